import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { fer2013LabelToClass } from '../shared/dataset/fer2013-csv.js';
import { indexDataset, openDataset, type DatasetIndex } from '../shared/dataset/index.js';
import { classToRafLabel } from '../shared/dataset/raf-db-official.js';
import { splitDataset } from '../shared/dataset/split.js';
import { bmp24, faceJpeg, facePngGray, faceRgb, write, writeRafOfficial } from './helpers/datasets.js';
import { cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);
const tempRoot = () => tempDir('layout');

const open = (root: string) => openDataset(root, { threads: 1, cacheFile: undefined });
const skippedByPath = (index: DatasetIndex) => Object.fromEntries(index.skipped.map((s) => [s.path, s]));
const classNames = (index: DatasetIndex) => index.samples.map((s) => EMOTION_CLASSES[s.label]);

describe('RAF-DB Kaggle layout (DATASET/<split>/<1..7>/ with train_labels.csv)', () => {
  function kaggle(root: string, options: { csv: boolean }): void {
    const csv: Record<string, string[]> = { train: ['image,label'], test: ['image,label'] };
    for (const split of ['train', 'test'] as const) {
      for (let raf = 1; raf <= 7; raf++) {
        const name = `${split}_${raf}_aligned.jpg`;
        write(root, path.join('DATASET', split, String(raf), name), faceJpeg(0, raf));
        csv[split]!.push(`${name},${raf}`);
      }
    }
    if (!options.csv) return;
    csv['train']!.push('train_gone_aligned.jpg,2', 'train_nine_aligned.jpg,9');
    write(root, path.join('DATASET', 'train', '3', 'train_conflict_aligned.jpg'), faceJpeg(2, 1));
    csv['train']!.push('train_conflict_aligned.jpg,4');
    write(root, 'train_labels.csv', `${csv['train']!.join('\n')}\n`);
    write(root, 'test_labels.csv', `${csv['test']!.join('\r\n')}\r\n`);
  }

  it('reads the folders as RAF-DB labels 1..7, remapped, with test/ as the test split', async () => {
    const root = tempRoot();
    kaggle(root, { csv: true });
    write(root, path.join('DATASET', 'train', '8', 'stray.jpg'), faceJpeg(1, 1));
    const index = await open(root);
    expect(index.layout).toBe('raf-db-kaggle');
    const byFolder = new Map(index.samples.map((s) => [path.basename(path.dirname(s.path)) + '/' + s.partition, EMOTION_CLASSES[s.label]]));
    expect([1, 2, 3, 4, 5, 6, 7].map((raf) => byFolder.get(`${raf}/train`))).toEqual(['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral']);
    expect(index.samples.filter((s) => s.partition === 'test').length).toBe(7);
    const skipped = skippedByPath(index);
    expect(skipped[path.join('DATASET', 'train', '8')]).toMatchObject({ kind: 'unknown-label-folder', reason: expect.stringMatching(/"8" is not a label .*1 files are left out/) });
    expect(skipped[path.join('DATASET', 'train', '2', 'train_gone_aligned.jpg')]).toMatchObject({ kind: 'missing', reason: 'listed in train_labels.csv:9 but missing' });
    expect(skipped['train_labels.csv:10']).toMatchObject({ kind: 'label-out-of-range' });
    expect(skipped[path.join('DATASET', 'train', '3', 'train_conflict_aligned.jpg')]).toMatchObject({ kind: 'label-conflict', reason: 'in folder 3 but train_labels.csv:11 labels it 4' });
    expect(index.skipped.length).toBe(4);
    expect(index.samples.length).toBe(14);
  });

  it('reads DATASET/ itself, without the CSV files', async () => {
    const root = tempRoot();
    kaggle(root, { csv: false });
    const index = await open(path.join(root, 'DATASET'));
    expect(index.layout).toBe('raf-db-kaggle');
    expect(index.samples.length).toBe(14);
    expect(index.skipped).toEqual([]);
  });
});

describe('image folders (<split>/<label>/<image>)', () => {
  it('matches label names in any case and their synonyms, keeps test/ as the test split, and reads JPEG, grey PNG and BMP', async () => {
    const root = tempRoot();
    const names = ['ANGER', 'Disgusted', 'fearful', 'Happiness', 'neutral', 'SADNESS', 'surprised'];
    names.forEach((name, c) => {
      write(root, path.join('Train', name, `a${c}.jpg`), faceJpeg(c, c));
      write(root, path.join('Train', name, `b${c}.png`), facePngGray(c, c + 10));
      write(root, path.join('Train', name, `c${c}.bmp`), bmp24(faceRgb(c, c + 20), 24, 24));
      write(root, path.join('test', name.toLowerCase(), `d${c}.jpg`), faceJpeg(c, c + 30));
    });
    write(root, path.join('Train', 'contempt', 'x.jpg'), faceJpeg(0, 0));
    write(root, path.join('Train', 'contempt', 'y.jpg'), faceJpeg(0, 1));
    write(root, path.join('Train', 'happiness', 'notes.txt'), 'not an image');
    write(root, path.join('Train', 'happiness', '.DS_Store'), 'clutter');
    write(root, path.join('__MACOSX', 'happy', 'z.jpg'), faceJpeg(0, 2));
    write(root, 'README.md', 'about this set');
    const index = await open(root);
    expect(index.layout).toBe('image-folders');
    expect(index.samples.length).toBe(28);
    for (let c = 0; c < 7; c++) expect(index.samples.filter((s) => s.label === c).length).toBe(4);
    expect(index.samples.filter((s) => s.partition === 'test').length).toBe(7);
    expect(index.samples.filter((s) => s.partition === 'train').length).toBe(21);
    const skipped = skippedByPath(index);
    expect(skipped[path.join('Train', 'contempt')]).toMatchObject({ kind: 'unknown-label-folder', reason: expect.stringMatching(/"contempt" is not a label .* its 2 files are left out/) });
    expect(skipped[path.join('Train', 'happiness', 'notes.txt')]).toMatchObject({ kind: 'unsupported-format', reason: expect.stringMatching(/^not a JPEG, PNG, BMP, PGM\/PPM image/) });
    expect(skipped['__MACOSX']).toMatchObject({ kind: 'unexpected-entry' });
    expect(index.skipped.length).toBe(3);
  });

  it('reads <label>/<image> folders with no split, which the run cuts 80/10/10', async () => {
    const root = tempRoot();
    for (let c = 0; c < 7; c++) for (let k = 0; k < 10; k++) write(root, path.join(EMOTION_CLASSES[c]!, `${k}.jpg`), faceJpeg(c, k));
    write(root, 'LICENSE', 'text');
    const index = await open(root);
    expect(index.layout).toBe('image-folders');
    expect(index.samples.length).toBe(70);
    expect(index.samples.every((s) => s.partition === undefined)).toBe(true);
    expect(index.skipped).toEqual([]);
    const plan = splitDataset(index.samples, 42);
    expect([plan.train.length, plan.val.length, plan.test.length]).toEqual([56, 7, 7]);
  });

  it('lists the same samples in the same order whatever order the files were written in', async () => {
    const a = tempRoot();
    const b = tempRoot();
    const files = Array.from({ length: 14 }, (_, k) => path.join('train', EMOTION_CLASSES[k % 7]!, `${k}.jpg`));
    for (const f of files) write(a, f, faceJpeg(0, 1));
    for (const f of [...files].reverse()) write(b, f, faceJpeg(0, 1));
    const paths = async (root: string) => (await indexDataset(root)).samples.map((s) => [s.id, s.path]);
    expect(await paths(a)).toEqual(await paths(b));
  });
});

describe('FER2013 csv (emotion,pixels,Usage)', () => {
  const pixels = (seed: number) => Array.from({ length: 36 }, (_, i) => (i * 7 + seed * 13) % 256).join(' ');

  it("remaps FER2013's 0..6 (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral) to our order", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((f) => EMOTION_CLASSES[fer2013LabelToClass(f)!])).toEqual(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']);
    expect(fer2013LabelToClass(7)).toBeUndefined();
    expect(fer2013LabelToClass(-1)).toBeUndefined();
  });

  it('reads rows as grey images, Training/PublicTest/PrivateTest as train/val/test, and skips bad rows by line', async () => {
    const root = tempRoot();
    const rows = ['emotion,pixels,Usage'];
    for (const usage of ['Training', 'Training', 'PublicTest', 'PrivateTest']) for (let f = 0; f < 7; f++) rows.push(`${f},${pixels(f)},${usage}`);
    rows.push(`7,${pixels(1)},Training`, `3,${pixels(1)} 5,Training`, `3,${pixels(1)},Other`, `3,${pixels(1).replace(/^\d+/, '300')},Training`, `3,${pixels(1).replace(' ', ' x')},Training`);
    write(root, 'fer2013.csv', `${rows.join('\n')}\n`);
    write(root, 'README.txt', 'notes');
    const index = await open(root);
    expect(index.layout).toBe('fer2013-csv');
    expect(index.samples.length).toBe(28);
    expect(classNames(index).slice(0, 7)).toEqual(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']);
    expect(index.samples[0]).toMatchObject({ path: 'fer2013.csv:2', partition: 'train', pixels: { width: 6, height: 6 } });
    expect(index.samples.filter((s) => s.partition === 'val').length).toBe(7);
    expect(index.samples.filter((s) => s.partition === 'test').length).toBe(7);
    const skipped = skippedByPath(index);
    expect(skipped['fer2013.csv:30']).toMatchObject({ kind: 'label-out-of-range', reason: 'emotion "7" is out of range 0..6' });
    expect(skipped['fer2013.csv:31']).toMatchObject({ kind: 'malformed-entry', reason: expect.stringMatching(/37 pixel values do not make a square image/) });
    expect(skipped['fer2013.csv:32']).toMatchObject({ kind: 'malformed-entry', reason: expect.stringMatching(/Usage "Other"/) });
    expect(skipped['fer2013.csv:33']).toMatchObject({ kind: 'malformed-entry', reason: expect.stringMatching(/pixel 1 is 300/) });
    expect(skipped['fer2013.csv:34']).toMatchObject({ kind: 'malformed-entry', reason: expect.stringMatching(/pixels contain "x"/) });
    const plan = splitDataset(index.samples, 42);
    expect([plan.train.length, plan.val.length, plan.test.length]).toEqual([14, 7, 7]);
  });

  it("reads icml_face_data.csv's spaced header and a CSV without Usage (split 80/10/10 by the run)", async () => {
    const spaced = tempRoot();
    write(spaced, 'icml_face_data.csv', `emotion, Usage, pixels\n${[0, 1, 2, 3, 4, 5, 6].map((f) => `${f},PrivateTest,${pixels(f)}`).join('\n')}\n`);
    expect((await open(spaced)).samples.map((s) => s.partition)).toEqual(new Array(7).fill('test'));
    const plain = tempRoot();
    write(plain, 'train.csv', `emotion,pixels\n${[0, 1, 2, 3, 4, 5, 6].map((f) => `${f},"${pixels(f)}"`).join('\n')}\n`);
    write(plain, 'test.csv', `pixels\n${pixels(1)}\n`);
    const index = await indexDataset(plain);
    expect(index.layout).toBe('fer2013-csv');
    expect(index.samples.length).toBe(7);
    expect(index.samples.every((s) => s.partition === undefined)).toBe(true);
  });
});

describe('layout detection', () => {
  it('tells the layouts apart', async () => {
    const raf = tempRoot();
    writeRafOfficial(raf, [{ name: 'train_00001.jpg', classIndex: 0, rafLabel: classToRafLabel(0) }]);
    expect((await indexDataset(raf)).layout).toBe('raf-db-official');
    const folders = tempRoot();
    write(folders, path.join('happy', 'a.jpg'), faceJpeg(3, 1));
    expect((await indexDataset(folders)).layout).toBe('image-folders');
  });
});
