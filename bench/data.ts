// npm run bench:data — images/s of the worker's data path: decode + augment (flip, rotation,
// zoom) + resize to 224x224 + caffe preprocessing, for 100x100 JPEG faces like RAF-DB's aligned
// images. Measured on the main thread (1 thread) and through the worker's thread pool (DataPool,
// shards of 64 as a worker of a 2-worker run gets), with the speed-up; then the cost of each stage
// and of the alternatives that were considered, per image.
// Options: --images N (default 512), --repeat N (default 5), --threads N (default: CPU count),
// --size N (default 224), --candidates (also time tfjs' resize + transform on the cpu backend).

import os from 'node:os';
import jpeg from 'jpeg-js';
import { encodeJpeg } from '../shared/image/jpeg-encode.js';
import { drawSyntheticFace } from '../shared/synthetic-face/index.js';
import { drawAugmentation } from '../shared/image/augmentation.js';
import { decodeImage } from '../shared/image/decode.js';
import { inputLength, writeModelInputs, type EncodedSample, type InputSpec } from '../shared/image/model-input.js';
import { sourceMap, warpInto } from '../shared/image/warp.js';
import { DataPool } from '../shared/data/data-pool.js';
import { loadAverage, median, option } from './options.js';

const imageCount = Number(option('images', '512'));
const repeat = Number(option('repeat', '5'));
const threads = Number(option('threads', String(os.availableParallelism())));
const size = Number(option('size', '224'));
const shardSize = 64;
const spec: InputSpec = { imageSize: size, preprocessing: 'caffe', seed: 42, augment: true };

function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  copy.set(bytes);
  return copy;
}

const samples: EncodedSample[] = Array.from({ length: imageCount }, (_, id) => ({
  id,
  bytes: shared(encodeJpeg(drawSyntheticFace(id % 7, id, 100), 100, 100, 90)),
  where: `face ${id}`,
}));
const output = new Float32Array(new SharedArrayBuffer(shardSize * inputLength(size) * 4 * 2));

interface Rate {
  perSecond: number;
  passes: number[];
  /** CPU time of the whole process (every thread) per image, median over the passes. */
  cpuMsPerImage: number;
}

/** Images per second of `run` over all the images, median of `repeat` passes after a warm-up. */
async function rate(run: (epoch: number) => Promise<void> | void): Promise<Rate> {
  await run(0);
  const passes: number[] = [];
  const cpu: number[] = [];
  for (let r = 1; r <= repeat; r++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    await run(r);
    const used = process.cpuUsage(cpuStart);
    passes.push(imageCount / ((performance.now() - start) / 1000));
    cpu.push((used.user + used.system) / 1000 / imageCount);
  }
  return { perSecond: median(passes), passes, cpuMsPerImage: median(cpu) };
}

const describeRate = (r: Rate) => `${r.perSecond.toFixed(0)} images/s, ${r.cpuMsPerImage.toFixed(2)} CPU ms/image  (passes: ${r.passes.map((p) => p.toFixed(0)).join(', ')})`;

function shards(): EncodedSample[][] {
  const list: EncodedSample[][] = [];
  for (let start = 0; start < imageCount; start += shardSize) list.push(samples.slice(start, start + shardSize));
  return list;
}

console.log(`${imageCount} JPEG faces 100x100 (${samples[0]!.bytes.byteLength} bytes each) → ${size}x${size}x3 caffe input, augmented; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
console.log(`load average before: ${loadAverage()}`);

const single = await rate((epoch) => {
  for (const shard of shards()) writeModelInputs(shard, epoch, spec, output);
});
console.log(`1 thread (main thread):          ${describeRate(single)}`);

const poolRates = new Map<number, Rate>();
for (const count of [...new Set([1, threads])]) {
  const pool = new DataPool(count);
  try {
    // Two shards in flight, as a worker has the step it computes and the next one.
    const buffers = [output.subarray(0, shardSize * inputLength(size)), output.subarray(shardSize * inputLength(size))];
    const measured = await rate(async (epoch) => {
      const list = shards();
      const inFlight: Array<Promise<void>> = [];
      for (let i = 0; i < list.length; i++) {
        if (inFlight.length === 2) await inFlight.shift();
        inFlight.push(pool.writeInputs(list[i]!, epoch, spec, buffers[i % 2]!));
      }
      await Promise.all(inFlight);
    });
    poolRates.set(count, measured);
    console.log(`pool of ${count} thread${count === 1 ? ' ' : 's'} (DataPool):    ${describeRate(measured)}`);
  } finally {
    await pool.close();
  }
}
const pooled = poolRates.get(threads)!;
console.log(`speed-up, pool of ${threads} / 1 thread: ${(pooled.perSecond / single.perSecond).toFixed(2)}x`);
// Other processes on the machine take cores from the pool; CPU time per image does not depend on
// them, so it tells the pool's own overhead, and what it would give on idle cores.
const efficiency = single.cpuMsPerImage / pooled.cpuMsPerImage;
console.log(
  `pool efficiency (CPU per image, 1 thread / pool): ${(efficiency * 100).toFixed(0)}%; so on ${threads} idle cores about ` +
    `${((threads * 1000) / pooled.cpuMsPerImage).toFixed(0)} images/s, ${(threads * efficiency).toFixed(2)}x`,
);
console.log(`load average after: ${loadAverage()}`);

// Where the time goes, per image, on one thread.
function stage(name: string, images: number, run: () => void): void {
  run();
  const seconds: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const start = performance.now();
    run();
    seconds.push((performance.now() - start) / 1000);
  }
  console.log(`  ${name.padEnd(62)} ${((median(seconds) * 1000) / images).toFixed(3)} ms/image`);
}
const decoded = samples.map((s) => decodeImage(s.bytes, s.where));
const target = new Float32Array(inputLength(size));
console.log('stages, 1 thread:');
stage('decode, jpeg-js (chosen)', imageCount, () => samples.forEach((s) => jpeg.decode(s.bytes, { useTArray: true, formatAsRGBA: false })));
stage(`fused warp: flip+rotation+zoom+resize+caffe to ${size} (chosen)`, imageCount, () =>
  decoded.forEach((image, id) => warpInto(image, size, sourceMap(drawAugmentation(42, 1, id), image.width, image.height, size), 'caffe', target, 0)),
);

if (process.argv.includes('--candidates')) {
  // The alternative installed here: tfjs' own kernels on the cpu backend (resize, then Keras'
  // projective transform), as a Keras model would run them. sharp is not installed (BACKENDS.md
  // measured it at 2.6 ms per image for the resize alone).
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const few = decoded.slice(0, 16);
  stage('tfjs cpu backend: resizeBilinear + image.transform', few.length, () =>
    few.forEach((image, id) =>
      tf.tidy(() => {
        const a = drawAugmentation(42, 1, id);
        const x = tf.image.resizeBilinear(tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32').toFloat(), [size, size], false, true);
        const c = (size - 1) / 2;
        const cos = Math.cos(a.angle) * a.zoom;
        const sin = Math.sin(a.angle) * a.zoom;
        const m = tf.tensor2d([[cos, -sin, c - cos * c + sin * c, sin, cos, c - sin * c - cos * c, 0, 0]]);
        tf.image.transform(x as Parameters<typeof tf.image.transform>[0], m, 'bilinear', 'reflect').dataSync();
      }),
    ),
  );
}
