import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeSyntheticDataset } from '../shared/dataset/synthetic.js';
import { faceJpeg } from './helpers/datasets.js';
import { COORDINATOR, Program, cleanUp, readEvents, tempDir } from './helpers/processes.js';

afterEach(cleanUp);

const PARTITION = path.join('EmoLabel', 'list_patition_label.txt');
const aligned = (name: string) => path.join('Image', 'aligned', name.replace(/\.jpg$/, '_aligned.jpg'));

describe('a dataset with broken files', () => {
  it('trains to the end, listing every broken file with its reason and skipping nothing else', async () => {
    const root = path.join(tempDir('broken'), 'raf');
    await writeSyntheticDataset(root, { count: 200, seed: 3, size: 32 });
    const lines = readFileSync(path.join(root, PARTITION), 'utf8').trim().split('\n');
    // 10 of 200 (5%), all of the largest class (happy, RAF-DB label 4), so every class keeps images
    const victims = lines.filter((line) => line.endsWith(' 4')).map((line) => line.split(' ')[0]!).slice(0, 10);
    expect(victims.length).toBe(10);
    const expected = new Map<string, RegExp>();
    const breakFile = (name: string, bytes: Uint8Array | string, reason: RegExp) => {
      writeFileSync(path.join(root, aligned(name)), bytes);
      expected.set(aligned(name), reason);
    };
    const original = (name: string) => readFileSync(path.join(root, aligned(name)));
    breakFile(victims[0]!, '', /^empty file \(0 bytes\)$/);
    breakFile(victims[1]!, '', /^empty file \(0 bytes\)$/);
    breakFile(victims[2]!, original(victims[2]!).subarray(0, 300), /^cannot decode JPEG image/);
    breakFile(victims[3]!, original(victims[3]!).subarray(0, 500), /^cannot decode JPEG image/);
    const scrambled = Uint8Array.from(original(victims[4]!));
    for (let i = 180; i < scrambled.length - 2; i++) scrambled[i] = (i * 37) & 0xff;
    breakFile(victims[4]!, scrambled, /^cannot decode JPEG image/);
    breakFile(victims[5]!, 'this is a text file called .jpg\n', /^not a JPEG, PNG, BMP, PGM\/PPM image/);
    breakFile(victims[6]!, Buffer.concat([Buffer.from('GIF89a'), Buffer.from(faceJpeg(3, 1))]), /^GIF images are not supported/);
    breakFile(victims[7]!, Buffer.from('<html><body>404 Not Found</body></html>'), /^not a JPEG, PNG, BMP, PGM\/PPM image/);
    unlinkSync(path.join(root, aligned(victims[8]!)));
    expected.set(aligned(victims[8]!), /^missing/);
    // a label out of range: the line of the tenth victim says 9
    writeFileSync(path.join(root, PARTITION), `${lines.map((line) => (line.startsWith(`${victims[9]} `) ? `${victims[9]} 9` : line)).join('\n')}\n`);
    expected.set(aligned(victims[9]!), /^label "9" is out of range 1..7/);
    rmSync(path.join(root, 'synthetic.json'));

    const runs = tempDir('runs');
    const coordinator = new Program(COORDINATOR, [
      '--gpus', '2', '--epochs', '2', '--dataset', root, '--model', 'small-cnn', '--image-size', '32',
      '--runs', runs, '--run-id', 'broken', '--progress', 'lines',
    ]);
    const { code } = await coordinator.exit(240_000);
    expect(code, coordinator.output).toBe(0);
    const events = readEvents(path.join(runs, 'broken'));
    expect(events.at(-1)?.event).toBe('run_finished');
    expect(events.filter((e) => e.event === 'epoch_end').length).toBe(2);
    const skipped = events.filter((e) => e.event === 'dataset_file_skipped');
    expect(skipped.map((e) => e['path']).sort()).toEqual([...expected.keys()].sort());
    for (const event of skipped) expect(event['reason'], String(event['path'])).toMatch(expected.get(event['path'] as string)!);
    expect(coordinator.output).toMatch(/skipped 10 files \(.*corrupt or truncated images: 3.*\); each is listed with its reason in events\.jsonl/);
    expect(coordinator.output).toMatch(/190 images \(train \d+, val \d+, test \d+;/);
  });
});
