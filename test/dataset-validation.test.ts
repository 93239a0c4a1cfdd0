import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDataset } from '../shared/dataset/index.js';
import { rafLabelToClass } from '../shared/dataset/raf-db-official.js';
import { faceJpeg, write, writeRafOfficial } from './helpers/datasets.js';
import { cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

describe('validating a dataset before a run', () => {
  it('decodes each image once: a second run takes the verdicts from the cache, a changed file is checked again', async () => {
    const root = tempDir('validation');
    const entries = [1, 2, 3, 4, 5, 6, 7].map((raf, i) => ({ name: `train_0000${i + 1}.jpg`, rafLabel: raf, bytes: faceJpeg(rafLabelToClass(raf)!, i) as Uint8Array | string }));
    entries.push({ name: 'train_00008.jpg', rafLabel: 4, bytes: 'garbage' }, { name: 'train_00009.jpg', rafLabel: 4, bytes: faceJpeg(3, 9) });
    writeRafOfficial(root, entries);
    const cacheFile = path.join(tempDir('validation-cache'), 'verdicts.json');
    const open = async () => {
      const lines: string[] = [];
      const index = await openDataset(root, { threads: 1, cacheFile, log: (line) => lines.push(line) });
      return { index, lines };
    };

    const first = await open();
    expect(first.lines).toEqual([expect.stringMatching(/^checking 9 of 9 images/)]);
    expect(first.index.skipped.map((s) => s.kind)).toEqual(['unsupported-format']);

    const second = await open();
    expect(second.lines).toEqual([]);
    expect(second.index).toEqual(first.index);

    write(root, path.join('Image', 'aligned', 'train_00004_aligned.jpg'), faceJpeg(3, 99).subarray(0, 150));
    const third = await open();
    expect(third.lines).toEqual([expect.stringMatching(/^checking 1 of 9 images/)]);
    expect(third.index.skipped.map((s) => [path.basename(s.path), s.kind])).toEqual([
      ['train_00004_aligned.jpg', 'corrupt'],
      ['train_00008_aligned.jpg', 'unsupported-format'],
    ]);
  });

  it('renumbers the samples that remain, so ids stay positions in the index', async () => {
    const root = tempDir('validation');
    const entries = [1, 2, 3, 4, 5, 6, 7, 4].map((raf, i) => ({ name: `train_0000${i + 1}.jpg`, rafLabel: raf, bytes: (i === 1 ? '' : faceJpeg(0, i)) as Uint8Array | string }));
    entries.push({ name: 'train_00009.jpg', rafLabel: 2, bytes: faceJpeg(0, 9) });
    writeRafOfficial(root, entries);
    const index = await openDataset(root, { threads: 2, cacheFile: undefined });
    expect(index.samples.map((s) => s.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(index.samples.map((s) => path.basename(s.path))).not.toContain('train_00002_aligned.jpg');
  });
});
