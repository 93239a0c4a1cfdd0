import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { openDataset } from '../shared/dataset/index.js';
import type { DatasetReport } from '../shared/dataset/inspect.js';
import { splitDataset } from '../shared/dataset/split.js';
import { faceJpeg, write } from './helpers/datasets.js';
import { EMOTRAIN, Program, cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

/** Image folders: train/<class>/ with 3 + class images each, test/<class>/ with 2, and three bad entries. */
function folders(): string {
  const root = tempDir('cli-dataset');
  EMOTION_CLASSES.forEach((name, c) => {
    for (let k = 0; k < 3 + c; k++) write(root, path.join('train', name, `${k}.jpg`), faceJpeg(c, 10 * c + k));
    for (let k = 0; k < 2; k++) write(root, path.join('test', name, `${k}.jpg`), faceJpeg(c, 100 + 10 * c + k));
  });
  write(root, path.join('train', 'happy', 'broken.jpg'), faceJpeg(3, 1).subarray(0, 200));
  write(root, path.join('train', 'happy', 'empty.jpg'), '');
  write(root, path.join('train', 'contempt', 'x.jpg'), faceJpeg(0, 1));
  return root;
}

async function run(args: string[]): Promise<{ code: number | null; output: string; stdout: string }> {
  const program = new Program(EMOTRAIN, args);
  let stdout = '';
  program.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const { code } = await program.exit(60_000);
  return { code, output: program.output, stdout };
}

describe('emotrain dataset inspect', () => {
  it('prints images per class per split as a run uses them, the imbalance, the layout and each skipped file with its reason', async () => {
    const root = folders();
    const { code, stdout, output } = await run(['dataset', 'inspect', root]);
    expect(code, output).toBe(0);
    expect(stdout).toMatch(/layout\s+image-folders/);
    expect(stdout).toMatch(/split\s+test: the dataset's own test split; val: 1\/9 of the rest, stratified by class \(seed 42\)/);
    expect(stdout).toMatch(/class\s+train\s+val\s+test\s+total/);
    expect(stdout).toMatch(/^angry\s+2\s+1\s+2\s+5$/m); // 3 train images: 1 to val, 2 stay
    expect(stdout).toMatch(/^surprise\s+8\s+1\s+2\s+11$/m);
    expect(stdout).toMatch(/^all\s+\d+\s+\d+\s+14\s+56$/m);
    expect(stdout).toMatch(/class imbalance: 2\.20 \(largest surprise 11 \/ smallest angry 5\)/);
    expect(stdout).toMatch(/skipped 3 \(/);
    expect(stdout).toContain(`${path.join('train', 'happy', 'broken.jpg')}: cannot decode JPEG image`);
    expect(stdout).toContain(`${path.join('train', 'happy', 'empty.jpg')}: empty file (0 bytes)`);
    expect(stdout).toMatch(/train\/contempt: "contempt" is not a label/);
  });

  it('gives the same counts as JSON, equal to the split a run with that seed uses', async () => {
    const root = folders();
    const { code, stdout, output } = await run(['dataset', 'inspect', root, '--json', '--seed', '7']);
    expect(code, output).toBe(0);
    const report = JSON.parse(stdout) as DatasetReport;
    const index = await openDataset(root, { threads: 1, cacheFile: undefined });
    const plan = splitDataset(index.samples, 7);
    expect(report.totals).toEqual({ train: plan.train.length, val: plan.val.length, test: plan.test.length, total: 56 });
    expect(report.perClass.total).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(report.layout).toBe('image-folders');
    expect(report.imbalanceRatio).toBeCloseTo(11 / 5, 10);
    expect(report.skippedByKind).toEqual({ corrupt: 1, empty: 1, 'unknown-label-folder': 1 });
    expect(report.skipped.map((s) => s.kind).sort()).toEqual(['corrupt', 'empty', 'unknown-label-folder']);
  });

  it('holds out --val-split of the non-test images for val, as a run with it would', async () => {
    const root = folders();
    const { code, stdout, output } = await run(['dataset', 'inspect', root, '--val-split', '0.5']);
    expect(code, output).toBe(0);
    expect(stdout).toMatch(/split\s+test: the dataset's own test split; val: 50% of the rest \(--val-split\), stratified by class \(seed 42\)/);
    expect(stdout).toMatch(/^angry\s+1\s+2\s+2\s+5$/m); // 3 train images: round(1.5) = 2 to val
    expect(stdout).toMatch(/^surprise\s+4\s+5\s+2\s+11$/m); // 9: round(4.5) = 5 to val
    const refused = await run(['dataset', 'inspect', root, '--val-split', '0.9']);
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/--val-split must be a number in \(0, 0.5\]/);
  });

  it('says clearly why a directory is not a dataset', async () => {
    const { code, output } = await run(['dataset', 'inspect', tempDir('empty')]);
    expect(code).toBe(1);
    expect(output).toMatch(/emotrain: no known dataset layout in .*expected one of raf-db-official/);
  });
});

describe('emotrain dataset preview', () => {
  it('draws a grid of augmented training samples with their labels', async () => {
    const root = folders();
    const out = path.join(tempDir('preview'), 'grid.png');
    const { code, output } = await run(['dataset', 'preview', root, '--out', out, '--count', '6', '--image-size', '48', '--seed', '3']);
    expect(code, output).toBe(0);
    expect(output).toContain(`wrote ${out} (6 samples, 48x48)`);
    const png = PNG.sync.read(readFileSync(out));
    // 3 columns of 48-pixel tiles, 2 rows with a label and a caption under each, and a title
    expect(png.width).toBeGreaterThanOrEqual(3 * 48);
    expect(png.height).toBeGreaterThanOrEqual(2 * (48 + 30));
    let dark = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i]! < 100) dark++;
    expect(dark).toBeGreaterThan(500); // faces and text, not a blank page
    const again = path.join(path.dirname(out), 'again.png');
    expect((await run(['dataset', 'preview', root, '--out', again, '--count', '6', '--image-size', '48', '--seed', '3'])).code).toBe(0);
    expect(readFileSync(again).equals(readFileSync(out))).toBe(true);
  });
});
