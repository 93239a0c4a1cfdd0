import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { classCounts, openDataset } from '../shared/dataset/index.js';
import { classToRafLabel, rafLabelToClass } from '../shared/dataset/raf-db-official.js';
import { classSplitCounts, stratifiedSplit } from '../shared/dataset/split.js';
import { DatasetError } from '../shared/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A RAF-DB official layout with the given lines; every listed image gets a (non-empty) file unless `missing`. */
function rafFixture(lines: string[], options: { missing?: string[]; empty?: string[] } = {}): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'emotrain-raf-'));
  dirs.push(root);
  mkdirSync(path.join(root, 'EmoLabel'), { recursive: true });
  mkdirSync(path.join(root, 'Image', 'aligned'), { recursive: true });
  writeFileSync(path.join(root, 'EmoLabel', 'list_patition_label.txt'), `${lines.join('\n')}\n`);
  for (const line of lines) {
    const name = line.split(/\s+/)[0]!;
    if (options.missing?.includes(name)) continue;
    const file = path.join(root, 'Image', 'aligned', name.replace('.jpg', '_aligned.jpg'));
    writeFileSync(file, options.empty?.includes(name) ? '' : 'jpeg bytes');
  }
  return root;
}

describe('RAF-DB official layout', () => {
  it('remaps RAF-DB labels 1..7 (surprise, fear, disgust, happy, sad, angry, neutral) to our order', () => {
    const names = [1, 2, 3, 4, 5, 6, 7].map((raf) => EMOTION_CLASSES[rafLabelToClass(raf)!]);
    expect(names).toEqual(['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral']);
    for (let c = 0; c < 7; c++) expect(rafLabelToClass(classToRafLabel(c))).toBe(c);
    expect(rafLabelToClass(0)).toBeUndefined();
    expect(rafLabelToClass(8)).toBeUndefined();
  });

  it('indexes the aligned images with remapped labels', async () => {
    const lines = [1, 2, 3, 4, 5, 6, 7].map((raf, i) => `train_${String(i + 1).padStart(5, '0')}.jpg ${raf}`);
    const index = await openDataset(rafFixture(lines));
    expect(index.layout).toBe('raf-db-official');
    expect(index.samples.map((s) => s.path)).toContain(path.join('Image', 'aligned', 'train_00001_aligned.jpg'));
    expect(index.samples.map((s) => EMOTION_CLASSES[s.label])).toEqual(['surprise', 'fear', 'disgust', 'happy', 'sad', 'angry', 'neutral']);
    expect(index.skipped).toEqual([]);
  });

  it('reports and skips missing files, empty files and out-of-range labels by path', async () => {
    const lines = [1, 2, 3, 4, 5, 6, 7].map((raf, i) => `train_${String(i + 1).padStart(5, '0')}.jpg ${raf}`);
    lines.push('train_00008.jpg 9', 'train_00009.jpg 4', 'test_0001.jpg 4', 'garbage line with words');
    const index = await openDataset(rafFixture(lines, { missing: ['train_00009.jpg'], empty: ['test_0001.jpg'] }));
    expect(index.samples.length).toBe(7);
    const reasons = Object.fromEntries(index.skipped.map((s) => [path.basename(s.path).split(':')[0], s.reason]));
    expect(reasons['train_00008_aligned.jpg']).toMatch(/label "9" is out of range 1..7/);
    expect(reasons['train_00009_aligned.jpg']).toMatch(/missing/);
    expect(reasons['test_0001_aligned.jpg']).toMatch(/empty file/);
    expect(index.skipped.some((s) => /expected "<image> <label>"/.test(s.reason))).toBe(true);
  });

  it('refuses an empty dataset and a dataset missing a class, before anything starts', async () => {
    await expect(openDataset(rafFixture([]))).rejects.toThrow(/has no usable images/);
    const noFear = [1, 3, 4, 5, 6, 7].map((raf, i) => `train_${i}.jpg ${raf}`);
    await expect(openDataset(rafFixture(noFear))).rejects.toThrow(/no images of class fear/);
    await expect(openDataset('/nonexistent/emotrain')).rejects.toBeInstanceOf(DatasetError);
    const unknown = mkdtempSync(path.join(os.tmpdir(), 'emotrain-unknown-'));
    dirs.push(unknown);
    await expect(openDataset(unknown)).rejects.toThrow(/no known dataset layout/);
  });
});

describe('stratified split', () => {
  const labels = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 7);

  it('cuts every class 80/10/10 (rounded), disjoint and covering everything', () => {
    const split = stratifiedSplit(labels, 42);
    const all = [...split.train, ...split.val, ...split.test];
    expect(new Set(all).size).toBe(labels.length);
    for (let c = 0; c < 7; c++) {
      const n = labels.filter((l) => l === c).length;
      const inPart = (ids: number[]) => ids.filter((id) => labels[id] === c).length;
      expect(inPart(split.val)).toBe(Math.round(n * 0.1));
      expect(inPart(split.test)).toBe(Math.round(n * 0.1));
      expect(inPart(split.train)).toBe(n - 2 * Math.round(n * 0.1));
    }
  });

  it('is stable for a seed and changes with it', () => {
    expect(stratifiedSplit(labels, 42)).toEqual(stratifiedSplit(labels, 42));
    expect(stratifiedSplit(labels, 42).val).not.toEqual(stratifiedSplit(labels, 43).val);
  });

  it('keeps at least one sample of a small class in val and in test', () => {
    expect(classSplitCounts(3, { train: 0.8, val: 0.1, test: 0.1 })).toEqual({ train: 1, val: 1, test: 1 });
    expect(classSplitCounts(2, { train: 0.8, val: 0.1, test: 0.1 })).toEqual({ train: 2, val: 0, test: 0 });
  });

  it('counts classes of an index', async () => {
    const counts = classCounts({ root: '', layout: 'x', skipped: [], samples: [0, 1, 1, 6].map((label, id) => ({ id, label, path: '' })) });
    expect(counts).toEqual([1, 2, 0, 0, 0, 0, 1]);
  });
});
