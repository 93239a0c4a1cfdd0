import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { openDataset } from '../shared/dataset/index.js';
import { classToRafLabel, rafLabelToClass } from '../shared/dataset/raf-db-official.js';
import { DatasetError } from '../shared/errors.js';
import { faceJpeg, writeRafOfficial } from './helpers/datasets.js';
import { cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);
const tempRoot = () => tempDir('raf');

const open = (root: string) => openDataset(root, { threads: 1, cacheFile: undefined });
const sevenClasses = () => [1, 2, 3, 4, 5, 6, 7].map((raf, i) => ({ name: `train_${String(i + 1).padStart(5, '0')}.jpg`, rafLabel: raf, bytes: faceJpeg(rafLabelToClass(raf)!, i) }));

describe('RAF-DB official layout', () => {
  it('remaps RAF-DB labels 1..7 (surprise, fear, disgust, happy, sad, angry, neutral) to our order', () => {
    const names = [1, 2, 3, 4, 5, 6, 7].map((raf) => EMOTION_CLASSES[rafLabelToClass(raf)!]);
    expect(names).toEqual(['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral']);
    for (let c = 0; c < 7; c++) expect(rafLabelToClass(classToRafLabel(c))).toBe(c);
    expect(rafLabelToClass(0)).toBeUndefined();
    expect(rafLabelToClass(8)).toBeUndefined();
  });

  it('indexes the aligned images with remapped labels, and test_* images as its test split', async () => {
    const root = tempRoot();
    writeRafOfficial(root, [...sevenClasses(), { name: 'test_0001.jpg', rafLabel: 4, bytes: faceJpeg(3, 99) }]);
    const index = await open(root);
    expect(index.layout).toBe('raf-db-official');
    expect(index.samples.map((s) => s.path)).toContain(path.join('Image', 'aligned', 'train_00001_aligned.jpg'));
    expect(index.samples.map((s) => EMOTION_CLASSES[s.label])).toEqual(['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral', 'happy']);
    expect(index.samples.map((s) => s.partition)).toEqual([...new Array(7).fill('train'), 'test']);
    expect(index.samples.map((s) => s.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(index.samples.every((s) => /^[0-9a-f]{64}$/.test(s.sha256 ?? ''))).toBe(true);
    expect(index.skipped).toEqual([]);
  });

  it('reports and skips missing files, empty files, out-of-range labels and malformed lines, by path', async () => {
    const root = tempRoot();
    writeRafOfficial(root, [
      ...sevenClasses(),
      { name: 'train_00008.jpg', rafLabel: 9 },
      { name: 'train_00009.jpg', rafLabel: 4, bytes: null },
      { name: 'test_0001.jpg', rafLabel: 4, bytes: '' },
      { name: 'garbage', rafLabel: 'line with words' },
    ]);
    const index = await open(root);
    expect(index.samples.length).toBe(7);
    const byName = Object.fromEntries(index.skipped.map((s) => [path.basename(s.path).split(':')[0], s]));
    expect(byName['train_00008_aligned.jpg']).toMatchObject({ kind: 'label-out-of-range', reason: expect.stringMatching(/label "9" is out of range 1..7/) });
    expect(byName['train_00009_aligned.jpg']).toMatchObject({ kind: 'missing', reason: expect.stringMatching(/missing/) });
    expect(byName['test_0001_aligned.jpg']).toMatchObject({ kind: 'empty', reason: expect.stringMatching(/empty file/) });
    expect(index.skipped.some((s) => s.kind === 'malformed-entry' && /expected "<image> <label>"/.test(s.reason))).toBe(true);
    expect(index.skipped.length).toBe(4);
  });

  it('refuses an empty dataset and a dataset missing a class, before anything starts', async () => {
    await expect(open((() => { const r = tempRoot(); writeRafOfficial(r, []); return r; })())).rejects.toThrow(/has no usable images/);
    const noFear = tempRoot();
    writeRafOfficial(noFear, sevenClasses().filter((e) => e.rafLabel !== 2));
    await expect(open(noFear)).rejects.toThrow(/no usable images of class fear/);
    await expect(open('/nonexistent/emotrain')).rejects.toBeInstanceOf(DatasetError);
    await expect(open(tempRoot())).rejects.toThrow(/no known dataset layout/);
  });

  it('refuses a dataset whose every image is bad, naming the first', async () => {
    const root = tempRoot();
    writeRafOfficial(root, sevenClasses().map((e) => ({ ...e, bytes: 'not an image' })));
    await expect(open(root)).rejects.toThrow(/has no usable images; all 7 listed files were skipped \(first: .*train_00001_aligned\.jpg: not a JPEG/);
  });
});
