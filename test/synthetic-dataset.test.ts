import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EMOTION_CLASSES } from '../shared/classes.js';
import { classCounts, openDataset } from '../shared/dataset/index.js';
import { encodeJpeg } from '../shared/image/jpeg-encode.js';
import { drawSyntheticFace } from '../shared/synthetic-face/index.js';
import {
  RAF_DB_BASIC_CLASS_COUNTS,
  isSyntheticDatasetCurrent,
  readSyntheticManifest,
  syntheticClassCounts,
  writeSyntheticDataset,
} from '../shared/dataset/synthetic.js';
import { DatasetError } from '../shared/errors.js';

// RAF-DB labels 1..7 = surprise, fear, disgust, happy, sad, angry, neutral (SPEC §5).
const RAF_DB_LABEL_NAMES = ['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral'] as const;
const PARTITION_FILE = join('EmoLabel', 'list_patition_label.txt');

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'emotrain-synthetic-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Every file under `dir`, relative path → bytes. */
async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length + 1), await readFile(path));
  }
  return files;
}

function parsePartition(text: string): { fileName: string; label: number }[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [fileName, label, ...rest] = line.split(' ');
      expect(rest).toEqual([]);
      return { fileName: fileName!, label: Number(label) };
    });
}

type Box = { rows: [number, number]; columns: [number, number] };

// Boxes as fractions of the image side, where the stylised faces put each feature.
const MOUTH: Box = { rows: [0.65, 0.95], columns: [0.3, 0.7] };
const EYES: Box = { rows: [0.3, 0.5], columns: [0.15, 0.85] };
const CHEEK: Box = { rows: [0.5, 0.65], columns: [0.1, 0.25] };
const CORNER: Box = { rows: [0, 0.1], columns: [0, 0.1] };

/**
 * Mean absolute difference of two images inside a box after removing each one's mean colour
 * there: a change of shape, not the skin tint that also carries the expression.
 */
function shapeDifference(a: Uint8Array, b: Uint8Array, size: number, box: Box): number {
  const pixels: number[] = [];
  for (let y = Math.floor(box.rows[0] * size); y < Math.ceil(box.rows[1] * size); y++) {
    for (let x = Math.floor(box.columns[0] * size); x < Math.ceil(box.columns[1] * size); x++) pixels.push((y * size + x) * 3);
  }
  let total = 0;
  for (let c = 0; c < 3; c++) {
    let meanA = 0;
    let meanB = 0;
    for (const p of pixels) {
      meanA += a[p + c]! / pixels.length;
      meanB += b[p + c]! / pixels.length;
    }
    for (const p of pixels) total += Math.abs(a[p + c]! - meanA - (b[p + c]! - meanB));
  }
  return total / (pixels.length * 3);
}

/** Average over people (seeds) of the shape difference between two expressions of the same person. */
function expressionChange(fromClass: number, toClass: number, box: Box): number {
  const size = 64;
  const people = 40;
  let total = 0;
  for (let seed = 0; seed < people; seed++) {
    total += shapeDifference(drawSyntheticFace(fromClass, seed, size), drawSyntheticFace(toClass, seed, size), size, box);
  }
  return total / people;
}

/** Mean absolute difference of two images inside a box. */
function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array, size: number, box: Box): number {
  let total = 0;
  let n = 0;
  for (let y = Math.floor(box.rows[0] * size); y < Math.ceil(box.rows[1] * size); y++) {
    for (let x = Math.floor(box.columns[0] * size); x < Math.ceil(box.columns[1] * size); x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * size + x) * 3 + c;
        total += Math.abs(a[i]! - b[i]!);
        n++;
      }
    }
  }
  return total / n;
}

describe('drawing a synthetic face', () => {
  it('returns size x size RGB bytes', () => {
    expect(drawSyntheticFace(3, 1).length).toBe(100 * 100 * 3);
    expect(drawSyntheticFace(3, 1, 64).length).toBe(64 * 64 * 3);
  });

  it('draws the same pixels for the same class, seed and size, whatever was drawn before', () => {
    const first = drawSyntheticFace(5, 1234);
    drawSyntheticFace(6, 99, 48);
    drawSyntheticFace(0, 7);
    expect(drawSyntheticFace(5, 1234)).toEqual(first);
  });

  it('draws different faces for different seeds and for different classes', () => {
    const face = drawSyntheticFace(4, 1);
    expect(drawSyntheticFace(4, 2)).not.toEqual(face);
    expect(drawSyntheticFace(3, 1)).not.toEqual(face);
  });

  it('rejects a class index outside 0..6 with a DatasetError', () => {
    expect(() => drawSyntheticFace(7, 1)).toThrow(DatasetError);
    expect(() => drawSyntheticFace(-1, 1)).toThrow(/out of range/);
    expect(() => drawSyntheticFace(1.5, 1)).toThrow(DatasetError);
  });

  it('keeps the person and the scene of a seed whatever the class, so classes differ only in the face', () => {
    const happy = drawSyntheticFace(3, 5);
    const sad = drawSyntheticFace(5, 5);
    expect(meanAbsoluteDifference(happy, sad, 100, CORNER)).toBeLessThan(1);
  });

  it('changes the shape of the mouth between happy and sad far more than that of the cheeks', () => {
    const mouth = expressionChange(3, 5, MOUTH);
    expect(mouth).toBeGreaterThan(8);
    expect(mouth).toBeGreaterThan(4 * expressionChange(3, 5, CHEEK));
  });

  it('changes the shape of the eyes and the mouth between surprised and neutral far more than that of the cheeks', () => {
    const cheek = expressionChange(6, 4, CHEEK);
    expect(expressionChange(6, 4, EYES)).toBeGreaterThan(8 * cheek);
    expect(expressionChange(6, 4, MOUTH)).toBeGreaterThan(4 * cheek);
  });

  it('keeps sad and neutral close but distinct: a frown and raised inner brows', () => {
    const cheek = expressionChange(5, 4, CHEEK);
    expect(expressionChange(5, 4, MOUTH)).toBeGreaterThan(3 * cheek);
    expect(expressionChange(5, 4, MOUTH)).toBeLessThan(expressionChange(3, 5, MOUTH));
  });
});

describe('encoding a face as JPEG', () => {
  it('decodes back to the same size and nearly the same pixels', () => {
    const face = drawSyntheticFace(3, 42);
    const decoded = jpeg.decode(encodeJpeg(face, 100, 100, 90), { useTArray: true, formatAsRGBA: false });
    expect([decoded.width, decoded.height]).toEqual([100, 100]);
    let error = 0;
    for (let i = 0; i < face.length; i++) error += Math.abs(face[i]! - decoded.data[i]!);
    expect(error / face.length).toBeLessThan(4);
  });

  it('handles sizes that are not a multiple of the 8x8 block', () => {
    const pixels = new Uint8Array(13 * 21 * 3).map((_, i) => (i * 37) % 256);
    const decoded = jpeg.decode(encodeJpeg(pixels, 13, 21, 75), { useTArray: true, formatAsRGBA: false });
    expect([decoded.width, decoded.height]).toEqual([13, 21]);
  });
});

describe('class counts of the synthetic set', () => {
  it('reproduces RAF-DB basic exactly at its full size', () => {
    const counts = syntheticClassCounts(15339);
    expect(counts).toEqual(EMOTION_CLASSES.map((name) => RAF_DB_BASIC_CLASS_COUNTS[name]));
  });

  it('follows RAF-DB proportions to within one image and sums to the count', () => {
    const counts = syntheticClassCounts(4000);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(4000);
    EMOTION_CLASSES.forEach((name, index) => {
      expect(Math.abs(counts[index]! - (RAF_DB_BASIC_CLASS_COUNTS[name] * 4000) / 15339)).toBeLessThanOrEqual(1);
    });
  });

  it('gives every class a handful of images even in a small set', () => {
    for (const count of [7, 20, 35, 60, 100]) {
      const counts = syntheticClassCounts(count);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(count);
      for (const n of counts) expect(n).toBeGreaterThanOrEqual(Math.min(5, Math.floor(count / 7)));
    }
  });
});

describe('writing the synthetic dataset in the RAF-DB layout', () => {
  it('writes the partition file, one aligned JPEG per line and a manifest', async () => {
    const dir = join(workDir, 'layout');
    const summary = await writeSyntheticDataset(dir, { count: 60, seed: 7 });
    const entries = parsePartition(await readFile(join(dir, PARTITION_FILE), 'utf8'));
    expect(entries).toHaveLength(60);
    expect(summary.trainCount + summary.testCount).toBe(60);

    const images = new Set(await readdir(join(dir, 'Image', 'aligned')));
    expect(images.size).toBe(60);
    for (const { fileName, label } of entries) {
      expect(fileName).toMatch(/^(train_\d{5}|test_\d{4})\.jpg$/);
      expect(label).toBeGreaterThanOrEqual(1);
      expect(label).toBeLessThanOrEqual(7);
      expect(images.has(fileName.replace('.jpg', '_aligned.jpg'))).toBe(true);
    }

    // Labels are RAF-DB's, remapped from our class order: per-label counts match the manifest.
    RAF_DB_LABEL_NAMES.forEach((name, index) => {
      const withLabel = entries.filter((entry) => entry.label === index + 1).length;
      expect(withLabel).toBe(summary.classCounts[name]);
      expect(withLabel).toBeGreaterThanOrEqual(5);
    });

    const trainNames = entries.filter((entry) => entry.fileName.startsWith('train_'));
    expect(trainNames.length / 60).toBeGreaterThan(0.7);
    expect(trainNames.length / 60).toBeLessThan(0.9);

    const sample = await readFile(join(dir, 'Image', 'aligned', [...images][0]!));
    const decoded = jpeg.decode(sample, { useTArray: true });
    expect([decoded.width, decoded.height]).toEqual([100, 100]);

    expect(await readSyntheticManifest(dir)).toMatchObject({ count: 60, seed: 7, size: 100, classCounts: summary.classCounts });
    expect(await isSyntheticDatasetCurrent(dir, { count: 60, seed: 7 })).toBe(true);
    expect(await isSyntheticDatasetCurrent(dir, { count: 60, seed: 8 })).toBe(false);
    expect(await isSyntheticDatasetCurrent(dir, { count: 61, seed: 7 })).toBe(false);
  });

  it('is read by the dataset loader as RAF-DB official, with our class counts and nothing skipped', async () => {
    const summary = await writeSyntheticDataset(join(workDir, 'loader'), { count: 40, seed: 3 });
    const index = await openDataset(summary.dir);
    expect(index.layout).toMatch(/raf/i);
    expect(index.samples).toHaveLength(40);
    expect(index.skipped).toEqual([]);
    expect(classCounts(index)).toEqual(EMOTION_CLASSES.map((name) => summary.classCounts[name]));
  });

  it('writes byte-identical files for the same count, seed and size, and different ones for another seed', async () => {
    const first = await readTree((await writeSyntheticDataset(join(workDir, 'same-a'), { count: 30, seed: 11, size: 48 })).dir);
    const second = await readTree((await writeSyntheticDataset(join(workDir, 'same-b'), { count: 30, seed: 11, size: 48 })).dir);
    expect([...second.keys()].sort()).toEqual([...first.keys()].sort());
    for (const [path, bytes] of first) expect(second.get(path)!.equals(bytes)).toBe(true);

    const other = await readTree((await writeSyntheticDataset(join(workDir, 'other-seed'), { count: 30, seed: 12, size: 48 })).dir);
    const differing = [...first].filter(([path, bytes]) => !other.get(path)?.equals(bytes));
    expect(differing.length).toBeGreaterThan(0);
  });

  it('replaces an earlier synthetic dataset and an empty directory, leaving no staging directories behind', async () => {
    const dir = join(workDir, 'replace');
    await mkdir(dir);
    await writeSyntheticDataset(dir, { count: 20, seed: 1 });
    await writeSyntheticDataset(dir, { count: 25, seed: 2 });
    expect(await readSyntheticManifest(dir)).toMatchObject({ count: 25, seed: 2 });
    expect(await readdir(join(dir, 'Image', 'aligned'))).toHaveLength(25);
    const siblings = await readdir(workDir);
    expect(siblings.filter((name) => name.startsWith('.replace.'))).toEqual([]);
  });

  it('refuses to write into a non-empty directory that is not a synthetic dataset, naming it and leaving it untouched', async () => {
    const dir = join(workDir, 'precious');
    await mkdir(dir);
    await writeFile(join(dir, 'thesis.txt'), 'do not delete');
    const attempt = writeSyntheticDataset(dir, { count: 20, seed: 1 });
    await expect(attempt).rejects.toBeInstanceOf(DatasetError);
    await expect(writeSyntheticDataset(dir, { count: 20, seed: 1 })).rejects.toThrow(dir);
    expect(await readdir(dir)).toEqual(['thesis.txt']);
    expect((await readdir(workDir)).filter((name) => name.startsWith('.precious.'))).toEqual([]);
  });
});
