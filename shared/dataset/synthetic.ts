// Writes the `synthetic` dataset (SPEC §5) in the RAF-DB official layout, so that it goes through
// the same loader as the real thing:
//   EmoLabel/list_patition_label.txt      "train_00001.jpg 4" — the official (misspelt) name,
//                                          RAF-DB labels 1..7 = surprise, fear, disgust, happy, sad, angry, neutral
//   Image/aligned/train_00001_aligned.jpg 100x100 JPEG faces
//   synthetic.json                         what was generated, so a cache can tell whether it is current
// The write is atomic: everything goes to a staging directory beside the target, renamed into
// place only when complete, so an interrupted run never leaves a half dataset behind.

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { EMOTION_CLASSES, NUM_CLASSES, type EmotionClass } from '../classes.js';
import { replaceDirectory } from '../atomic-dir.js';
import { ConfigError, DatasetError } from '../errors.js';
import { deriveSeed, SeededRandom } from '../random.js';
import { encodeJpeg } from '../image/jpeg-encode.js';
import { alignedImagePath, classToRafLabel, RAF_ALIGNED_DIR, RAF_PARTITION_FILE } from './raf-db-official.js';
import { drawSyntheticFace, SYNTHETIC_FACE_VERSION } from '../synthetic-face/index.js';

export const SYNTHETIC_GENERATOR = 'emotrain-synthetic-faces';
/** Bumped whenever file names, labels, split or encoding change for the same options. */
export const SYNTHETIC_LAYOUT_VERSION = 1;
export const SYNTHETIC_MANIFEST_FILE = 'synthetic.json';

/** Images per class in RAF-DB basic emotions (15,339 in all), which the synthetic set imitates. */
export const RAF_DB_BASIC_CLASS_COUNTS: Readonly<Record<EmotionClass, number>> = {
  angry: 867,
  disgust: 877,
  fear: 355,
  happy: 5957,
  neutral: 3204,
  sad: 2460,
  surprise: 1619,
};

/** Like the official release: about a fifth of each class is named test_*. */
const TEST_FRACTION = 0.2;
/** Fewest images any class gets when the count allows, so small sets still show every class. */
const MIN_IMAGES_PER_CLASS = 5;

export interface SyntheticDatasetOptions {
  count: number;
  seed: number;
  /** Side of the square images in pixels; RAF-DB aligned faces are 100. */
  size?: number;
  /** JPEG quality 1..100. */
  quality?: number;
}

/** Contents of synthetic.json: everything that determines the files' bytes. */
export interface SyntheticManifest {
  generator: typeof SYNTHETIC_GENERATOR;
  generatorVersion: number;
  layoutVersion: number;
  count: number;
  seed: number;
  size: number;
  quality: number;
  classCounts: Record<EmotionClass, number>;
  trainCount: number;
  testCount: number;
}

export interface SyntheticDatasetSummary extends SyntheticManifest {
  /** Absolute path of the dataset written. */
  dir: string;
}

interface PlannedImage {
  fileName: string;
  classIndex: number;
  /** Seed of the face drawing: deriveSeed(datasetSeed, index in generation order). */
  faceSeed: number;
}

/**
 * Images per class (EMOTION_CLASSES order) for a set of `count`: RAF-DB's proportions by largest
 * remainder, then topped up from the largest class so each has at least a handful.
 */
export function syntheticClassCounts(count: number): number[] {
  if (!Number.isInteger(count) || count < NUM_CLASSES) {
    throw new ConfigError('CONFIG_INVALID', `synthetic dataset count ${count} is invalid: expected an integer >= ${NUM_CLASSES} (one image per class)`);
  }
  const shares = EMOTION_CLASSES.map((name) => RAF_DB_BASIC_CLASS_COUNTS[name]);
  const total = shares.reduce((sum, share) => sum + share, 0);
  const exact = shares.map((share) => (share * count) / total);
  const counts = exact.map(Math.floor);
  const byRemainder = exact.map((value, index) => ({ index, remainder: value - Math.floor(value) }));
  byRemainder.sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  let missing = count - counts.reduce((sum, n) => sum + n, 0);
  for (const { index } of byRemainder) {
    if (missing === 0) break;
    counts[index]!++;
    missing--;
  }
  const minimum = Math.min(MIN_IMAGES_PER_CLASS, Math.floor(count / NUM_CLASSES));
  for (let index = 0; index < NUM_CLASSES; index++) {
    while (counts[index]! < minimum) {
      const largest = counts.indexOf(Math.max(...counts));
      counts[largest]!--;
      counts[index]!++;
    }
  }
  return counts;
}

/**
 * Generates `options.count` faces into `outDir` in the RAF-DB official layout. The same
 * (count, seed, size, quality) gives byte-identical files. Replaces a previous synthetic dataset
 * at `outDir`; refuses any other non-empty directory.
 */
export async function writeSyntheticDataset(outDir: string, options: SyntheticDatasetOptions): Promise<SyntheticDatasetSummary> {
  const manifest = manifestFor(options);
  const target = resolve(outDir);
  await assertReplaceable(target);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.${basename(target)}.partial-`));
  try {
    await writeContents(staging, manifest);
    replaceDirectory(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { ...manifest, dir: target };
}

/** The manifest of the synthetic dataset at `dir`, or undefined if there is none (or it is unreadable). */
export async function readSyntheticManifest(dir: string): Promise<SyntheticManifest | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, SYNTHETIC_MANIFEST_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<SyntheticManifest> | null;
    return parsed?.generator === SYNTHETIC_GENERATOR ? (parsed as SyntheticManifest) : undefined;
  } catch {
    return undefined;
  }
}

/** True when `dir` holds a complete synthetic dataset generated with these options by this code. */
export async function isSyntheticDatasetCurrent(dir: string, options: SyntheticDatasetOptions): Promise<boolean> {
  const found = await readSyntheticManifest(dir);
  if (found === undefined) return false;
  const wanted = manifestFor(options);
  return (
    found.generatorVersion === wanted.generatorVersion &&
    found.layoutVersion === wanted.layoutVersion &&
    found.count === wanted.count &&
    found.seed === wanted.seed &&
    found.size === wanted.size &&
    found.quality === wanted.quality
  );
}

function manifestFor(options: SyntheticDatasetOptions): SyntheticManifest {
  const { count, seed, size = 100, quality = 90 } = options;
  if (!Number.isSafeInteger(seed)) {
    throw new ConfigError('CONFIG_INVALID', `synthetic dataset seed ${seed} is invalid: expected an integer`);
  }
  if (!Number.isInteger(size) || size < 16 || size > 2048) {
    throw new ConfigError('CONFIG_INVALID', `synthetic dataset size ${size} is invalid: expected an integer 16..2048`);
  }
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new ConfigError('CONFIG_INVALID', `synthetic dataset JPEG quality ${quality} is invalid: expected an integer 1..100`);
  }
  const counts = syntheticClassCounts(count);
  const testCounts = counts.map(testCountOf);
  const testCount = testCounts.reduce((sum, n) => sum + n, 0);
  const classCounts = Object.fromEntries(EMOTION_CLASSES.map((name, index) => [name, counts[index]!])) as Record<EmotionClass, number>;
  return {
    generator: SYNTHETIC_GENERATOR,
    generatorVersion: SYNTHETIC_FACE_VERSION,
    layoutVersion: SYNTHETIC_LAYOUT_VERSION,
    count,
    seed,
    size,
    quality,
    classCounts,
    trainCount: count - testCount,
    testCount,
  };
}

/** Test images of a class: a fifth, but at least one train and (from two images up) one test. */
function testCountOf(classCount: number): number {
  if (classCount < 2) return 0;
  return Math.min(classCount - 1, Math.max(1, Math.round(classCount * TEST_FRACTION)));
}

/**
 * Which face goes in which file. Classes are interleaved by a seeded shuffle; within a class the
 * first images in generation order are train, the rest test; files are numbered per split.
 */
function planImages(manifest: SyntheticManifest): PlannedImage[] {
  const counts = EMOTION_CLASSES.map((name) => manifest.classCounts[name]);
  const classOrder: number[] = [];
  counts.forEach((n, classIndex) => {
    for (let k = 0; k < n; k++) classOrder.push(classIndex);
  });
  new SeededRandom(deriveSeed(manifest.seed, manifest.count, 0x6c61626c)).shuffle(classOrder);
  const trainLeft = counts.map((n) => n - testCountOf(n));
  const trainDigits = Math.max(5, String(manifest.trainCount).length);
  const testDigits = Math.max(4, String(manifest.testCount).length);
  let trainNumber = 0;
  let testNumber = 0;
  return classOrder.map((classIndex, index) => {
    const isTrain = trainLeft[classIndex]! > 0;
    let fileName: string;
    if (isTrain) {
      trainLeft[classIndex]!--;
      fileName = `train_${String(++trainNumber).padStart(trainDigits, '0')}.jpg`;
    } else {
      fileName = `test_${String(++testNumber).padStart(testDigits, '0')}.jpg`;
    }
    return { fileName, classIndex, faceSeed: deriveSeed(manifest.seed, index) };
  });
}

async function writeContents(root: string, manifest: SyntheticManifest): Promise<void> {
  await mkdir(dirname(join(root, RAF_PARTITION_FILE)), { recursive: true });
  await mkdir(join(root, RAF_ALIGNED_DIR), { recursive: true });
  const images = planImages(manifest);
  const { size, quality } = manifest;
  // Drawing is synchronous; a bounded batch of writes in flight overlaps it with the disk.
  const writesInFlight: Promise<void>[] = [];
  for (const image of images) {
    const encoded = encodeJpeg(drawSyntheticFace(image.classIndex, image.faceSeed, size), size, size, quality);
    writesInFlight.push(writeFile(join(root, alignedImagePath(image.fileName)), encoded));
    if (writesInFlight.length >= 64) await Promise.all(writesInFlight.splice(0));
  }
  await Promise.all(writesInFlight);
  const trainLines = images.filter((image) => image.fileName.startsWith('train_'));
  const testLines = images.filter((image) => image.fileName.startsWith('test_'));
  const partition = [...trainLines, ...testLines].map((image) => `${image.fileName} ${classToRafLabel(image.classIndex)}\n`).join('');
  await writeFile(join(root, RAF_PARTITION_FILE), partition);
  // Written last: its presence marks a complete dataset.
  await writeFile(join(root, SYNTHETIC_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Only a missing path, an empty directory or an earlier synthetic dataset may be replaced. */
async function assertReplaceable(target: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(target)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!isDirectory) {
    throw new DatasetError('DATASET_LAYOUT_UNKNOWN', `refusing to write the synthetic dataset to ${target}: it exists and is not a directory`);
  }
  if ((await readdir(target)).length === 0) return;
  if ((await readSyntheticManifest(target)) === undefined) {
    throw new DatasetError(
      'DATASET_LAYOUT_UNKNOWN',
      `refusing to write the synthetic dataset into ${target}: it is a non-empty directory without a ${SYNTHETIC_MANIFEST_FILE} from an earlier synthetic dataset`,
    );
  }
}
