import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SampleStore } from '../shared/data/sample-store.js';
import type { DatasetIndex } from '../shared/dataset/index.js';
import { decodeImage } from '../shared/image/decode.js';
import { writeModelInputs } from '../shared/image/model-input.js';
import type { Command, Sample } from '../shared/wire/index.js';
import { BatchAssembler } from '../shared/data/batch-assembler.js';
import { CommandQueue } from '../worker/command-queue.js';
import { DataPool } from '../shared/data/data-pool.js';
import { SampleBytes, localPath } from '../shared/data/sample-bytes.js';
import { faceJpeg, grayOf, faceRgb } from './helpers/datasets.js';
import { cleanUp, tempDir } from './helpers/processes.js';

afterEach(cleanUp);
const tempRoot = () => tempDir('pipeline');

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sample = (id: number, fields: Partial<Sample> = {}): Sample => ({ id, label: id % 7, image: Buffer.alloc(0), path: '', sha256: '', ...fields });
const step = (step: number, samples: Sample[]): Command => ({ kind: 'trainStep', trainStep: { step, generation: 0, epoch: 0, worldSize: 1, globalBatch: samples.length, samples, stepSeed: 1, ring: [] } });
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('the command queue', () => {
  it('starts preparing each command the moment it arrives and hands commands out in order', async () => {
    const stream = new EventEmitter();
    const started: number[] = [];
    const queue = new CommandQueue<number>(stream, (command) => {
      if (command.kind !== 'trainStep') return undefined;
      started.push(command.trainStep.step);
      return Promise.resolve(command.trainStep.step * 10);
    });
    stream.emit('data', step(0, []));
    stream.emit('data', step(1, []));
    expect(started).toEqual([0, 1]); // both prepared before anyone asked for either
    stream.emit('data', { kind: 'checksum', checksum: { step: 2, requestId: 1 } } satisfies Command);
    stream.emit('end');
    const seen: Array<[string, number | undefined]> = [];
    for await (const { command, prepared } of queue) seen.push([command.kind, await prepared]);
    expect(seen).toEqual([['trainStep', 0], ['trainStep', 10], ['checksum', undefined]]);
  });

  it("reports a failed preparation when its command's turn comes, not as an unhandled rejection", async () => {
    const stream = new EventEmitter();
    const queue = new CommandQueue<number>(stream, () => Promise.reject(new Error('bad file')));
    stream.emit('data', step(0, []));
    await flush();
    const iterator = queue[Symbol.asyncIterator]();
    const first = await iterator.next();
    await expect(first.value!.prepared).rejects.toThrow('bad file');
  });

  it('delivers the commands that arrived before a stream error, then the error', async () => {
    const stream = new EventEmitter();
    const queue = new CommandQueue<number>(stream, () => undefined);
    const iterator = queue[Symbol.asyncIterator]();
    const waiting = iterator.next();
    stream.emit('data', step(0, []));
    expect((await waiting).value!.command.kind).toBe('trainStep');
    stream.emit('data', step(1, []));
    stream.emit('error', new Error('connection reset'));
    expect((await iterator.next()).done).toBe(false);
    await expect(iterator.next()).rejects.toThrow('connection reset');
  });
});

describe("a worker's sample bytes", () => {
  it('keeps bytes sent once and finds them by id later', async () => {
    const bytes = new SampleBytes(undefined);
    const jpeg = Buffer.from(faceJpeg(1, 1));
    const [first] = await bytes.resolve([sample(3, { image: jpeg })]);
    const [again] = await bytes.resolve([sample(3)]);
    expect(Buffer.from(again!)).toEqual(jpeg);
    expect(again!.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(first).toBe(again);
    expect(() => bytes.resolve([sample(4)])).toThrow(/sample 4 came without image bytes or a path/);
  });

  it('reads a local copy (--data-dir), checking each file against the coordinator sha256 and naming the file that differs', async () => {
    const root = tempRoot();
    const good = faceJpeg(2, 2);
    writeFileSync(path.join(root, 'a.jpg'), good);
    writeFileSync(path.join(root, 'b.jpg'), faceJpeg(2, 3));
    const bytes = new SampleBytes(root);
    const [read] = await bytes.resolve([sample(1, { path: 'a.jpg', sha256: sha256(good) })]);
    expect(Buffer.from(read!)).toEqual(Buffer.from(good));
    await expect(bytes.resolve([sample(2, { path: 'b.jpg', sha256: sha256(good) })])).rejects.toThrow(
      new RegExp(`${path.join(root, 'b.jpg').replace(/[/\\]/g, '.')} \\(sample 2\\) has sha256 [0-9a-f]{64}, the coordinator's copy has ${sha256(good)}`),
    );
    await expect(bytes.resolve([sample(5, { path: 'gone.jpg', sha256: sha256(good) })])).rejects.toThrow(/gone\.jpg \(sample 5\) cannot be read from --data-dir/);
    await expect(new SampleBytes(undefined).resolve([sample(1, { path: 'a.jpg', sha256: sha256(good) })])).rejects.toThrow(/has no --data-dir/);
  });

  it('refuses sample paths that would leave the data directory', () => {
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', 'a\\b']) expect(() => localPath('/data', bad)).toThrow(/not a plain relative path/);
    expect(localPath('/data', 'Image/aligned/x.jpg')).toBe(path.join('/data', 'Image', 'aligned', 'x.jpg'));
  });
});

describe('batches from the data threads', () => {
  const pool = new DataPool(2);
  afterAll(() => pool.close());
  const config = { model: 'small-cnn', imageSize: 32, freeze: 'none', dropout: 0, l2: 0, seed: 9, precision: 'fp32', microBatch: 0, augment: true, preprocessing: 'unit' } as const;

  it('gives exactly the pixels of the single-threaded path, augmented for training only', async () => {
    const assembler = new BatchAssembler(config, pool);
    const jpegs = Array.from({ length: 11 }, (_, id) => Buffer.from(faceJpeg(id % 7, id, 28)));
    const samples = jpegs.map((image, id) => sample(id, { image }));
    const spec = { imageSize: 32, preprocessing: 'unit' as const, seed: 9, augment: true };
    for (const epoch of [4, undefined]) {
      const batch = await assembler.assemble(epoch === 4 ? samples : samples.map((s) => sample(s.id)), epoch);
      const expected = new Float32Array(11 * 32 * 32 * 3);
      writeModelInputs(jpegs.map((bytes, id) => ({ id, bytes, where: '' })), epoch, spec, expected);
      expect(batch.images).toEqual(expected);
      expect(Array.from(batch.labels)).toEqual(samples.map((s) => s.label));
      expect(batch.sampleIds).toEqual(samples.map((s) => s.id));
      assembler.release(batch);
    }
  });

  it('reuses batch buffers once they are released', async () => {
    const assembler = new BatchAssembler(config, pool);
    const samples = [0, 1, 2].map((id) => sample(id, { image: Buffer.from(faceJpeg(id, id)) }));
    const first = await assembler.assemble(samples, 0);
    const second = await assembler.assemble(samples.map((s) => sample(s.id)), 1);
    expect(second.images.buffer).not.toBe(first.images.buffer);
    assembler.release(first);
    const third = await assembler.assemble(samples.map((s) => sample(s.id)), 2);
    expect(third.images.buffer).toBe(first.images.buffer);
  });

  it('fails naming the sample when its bytes do not decode', async () => {
    const assembler = new BatchAssembler(config, pool);
    await expect(assembler.assemble([sample(7, { image: Buffer.from('nope') })], 0)).rejects.toThrow(/sample 7: not a JPEG/);
  });
});

describe("the coordinator's sample store", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'emotrain-store-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const jpeg = faceJpeg(0, 1);
  writeFileSync(path.join(root, 'face.jpg'), jpeg);
  const gray = grayOf(faceRgb(0, 2, 16)).subarray(0, 36);
  const index: DatasetIndex = {
    root,
    layout: 'test',
    skipped: [],
    samples: [
      { id: 0, path: 'face.jpg', label: 2, sha256: sha256(jpeg) },
      { id: 1, path: 'fer2013.csv:2', label: 4, pixels: { width: 6, height: 6, data: gray } },
    ],
  };

  it('sends bytes once to a worker without data, and paths with hashes once to a worker with its own copy', async () => {
    const store = new SampleStore(index);
    const fed = { workerId: 'fed', localData: false };
    const local = { workerId: 'local', localData: true };
    const [toFed] = await store.samplesFor(fed, [0]);
    expect(toFed).toMatchObject({ id: 0, label: 2, path: '', sha256: '' });
    expect(Buffer.from(toFed!.image)).toEqual(Buffer.from(jpeg));
    const [toLocal] = await store.samplesFor(local, [0]);
    expect(toLocal).toMatchObject({ id: 0, label: 2, path: 'face.jpg', sha256: sha256(jpeg) });
    expect(toLocal!.image.byteLength).toBe(0);
    for (const member of [fed, local]) expect(await store.samplesFor(member, [0])).toEqual([{ id: 0, label: 2, image: Buffer.alloc(0), path: '', sha256: '' }]);
  });

  it('serves pixels stored in an index file (FER2013) as a PNG, to every worker', async () => {
    const store = new SampleStore(index);
    const [served] = await store.samplesFor({ workerId: 'local', localData: true }, [1]);
    expect(served!.path).toBe('');
    const image = decodeImage(served!.image, 'png');
    expect([image.width, image.height]).toEqual([6, 6]);
    expect(Array.from(image.data.filter((_, i) => i % 3 === 0))).toEqual(Array.from(gray));
  });
});
