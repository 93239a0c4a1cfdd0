// Milliseconds per call of the wasm training kernels and the formulations they were chosen from
// (shared/backend/wasm-kernels/), and of BatchNorm's training pass with its gradient (tfjs' own
// composition against shared/models/batch-norm-training.ts), on layer shapes of small CNNs,
// ResNet50 and mini-xception (batch 32, 48x48). Not a test: run after a build, on an otherwise
// idle machine; every table times the alternatives side by side in one run, so a loaded machine
// slows them alike.
//   npm run build && npm run bench:kernels [-- --cpu]
// --cpu also times the cpu backend's depthwise kernels (the old fallback) on a small layer.

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import os from 'node:os';
import { chooseFilterGradFormulation, chooseInputGradFormulation, kernelFormulations } from '../shared/backend/wasm-kernels/formulations.js';
import { registerWasmTrainingKernels } from '../shared/backend/wasm-kernels/index.js';
import { trainingBatchNorm } from '../shared/models/batch-norm-training.js';
import { loadAverage } from './options.js';

type Shape4 = [number, number, number, number];
const REPEATS = 3;

// wasm's own kernels, captured before registering ours replaces them.
const nativeInputGrad = tf.getKernel(tf.Conv2DBackpropInput, 'wasm').kernelFunc;
const nativeMaxPoolGrad = tf.getKernel(tf.MaxPoolGrad, 'wasm').kernelFunc;

function medianMs(run: () => void): number {
  run();
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(REPEATS / 2)]!;
}

/** Times a kernel function called directly on the current backend, freeing its output. */
function timeKernel(kernelFunc: tf.KernelFunc, inputs: tf.NamedTensorInfoMap, attrs: object): number {
  const backend = tf.backend();
  return medianMs(() => {
    const out = kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
    backend.disposeData(out.dataId);
  });
}

function timeRegistered(kernelName: string, inputs: tf.NamedTensorMap, attrs: object): number {
  return medianMs(() => tf.dispose(tf.engine().runKernel(kernelName, inputs, attrs as tf.NamedAttrMap) as tf.Tensor));
}

function row(label: string, timings: Record<string, number>): void {
  const cells = Object.entries(timings).map(([name, ms]) => `${name} ${ms.toFixed(1).padStart(7)}`);
  console.log(`${label.padEnd(42)} ${cells.join('   ')}`);
}

interface ConvLayer {
  x: Shape4;
  kernel: number;
  stride: number;
  outChannels: number;
  pad?: 'same' | 'valid';
}

const CONV_LAYERS: ConvLayer[] = [
  { x: [32, 64, 64, 3], kernel: 3, stride: 1, outChannels: 32 },
  { x: [32, 32, 32, 32], kernel: 3, stride: 1, outChannels: 64 },
  { x: [32, 16, 16, 64], kernel: 3, stride: 1, outChannels: 128 },
  { x: [32, 8, 8, 128], kernel: 3, stride: 1, outChannels: 256 },
  { x: [8, 112, 112, 3], kernel: 7, stride: 2, outChannels: 64 },
  { x: [8, 28, 28, 64], kernel: 1, stride: 1, outChannels: 256 },
  { x: [8, 28, 28, 256], kernel: 1, stride: 2, outChannels: 512 },
  { x: [8, 14, 14, 256], kernel: 3, stride: 2, outChannels: 256 },
  { x: [8, 7, 7, 512], kernel: 3, stride: 1, outChannels: 512 },
  // mini-xception at 48x48, batch 32: the base, a stride-2 residual, pointwise convs, the head
  { x: [32, 48, 48, 3], kernel: 3, stride: 1, outChannels: 8, pad: 'valid' },
  { x: [32, 46, 46, 8], kernel: 3, stride: 1, outChannels: 8, pad: 'valid' },
  { x: [32, 44, 44, 8], kernel: 1, stride: 2, outChannels: 16 },
  { x: [32, 44, 44, 16], kernel: 1, stride: 1, outChannels: 16 },
  { x: [32, 22, 22, 32], kernel: 1, stride: 1, outChannels: 32 },
  { x: [32, 6, 6, 128], kernel: 1, stride: 1, outChannels: 128 },
  { x: [32, 3, 3, 128], kernel: 3, stride: 1, outChannels: 7 },
];

/** Whether a formulation computes this layer (the pointwise ones: 1x1 convolutions that read no padding). */
function applies(name: string, info: tf.backend_util.Conv2DInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  return !name.startsWith('pointwise') || (info.filterHeight === 1 && info.filterWidth === 1 && top + bottom + left + right === 0);
}

function label(shape: number[], detail: string): string {
  return `[${shape.join(',')}] ${detail}`;
}

function benchConv(): void {
  console.log('\nConv2DBackpropFilter (dW) and Conv2DBackpropInput (dx), ms per call; "by shape" is what is registered');
  for (const layer of CONV_LAYERS) {
    const pad = layer.pad ?? 'same';
    const filterShape: Shape4 = [layer.kernel, layer.kernel, layer.x[3], layer.outChannels];
    const info = tf.backend_util.computeConv2DInfo(layer.x, filterShape, layer.stride, 1, pad);
    const x = tf.randomNormal(layer.x);
    const dy = tf.randomNormal(info.outShape);
    const filter = tf.randomNormal(filterShape);
    const name = label(layer.x, `${layer.kernel}x${layer.kernel}/${layer.stride} ${pad} -> ${layer.outChannels}`);
    const forward = medianMs(() => tf.dispose(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, layer.stride, pad)));
    const filterAttrs = { strides: layer.stride, pad, dataFormat: 'NHWC', filterShape };
    const dW: Record<string, number> = { forward };
    for (const [formulation, kernelFunc] of Object.entries(kernelFormulations.conv2dBackpropFilter)) {
      if (applies(formulation, info)) dW[formulation] = timeKernel(kernelFunc, { x, dy }, filterAttrs);
    }
    row(`${name} dW`, dW);
    const inputAttrs = { strides: layer.stride, pad, dataFormat: 'NHWC', inputShape: layer.x };
    const dx: Record<string, number> = { native: timeKernel(nativeInputGrad, { dy, filter }, inputAttrs) };
    for (const [formulation, kernelFunc] of Object.entries(kernelFormulations.conv2dBackpropInput)) {
      if (applies(formulation, info)) dx[formulation] = timeKernel(kernelFunc, { dy, filter }, inputAttrs);
    }
    row(`${name} dx`, dx);
    console.log(`${''.padEnd(42)} by shape: dW ${chooseFilterGradFormulation(info)}, dx ${chooseInputGradFormulation(info)}`);
    tf.dispose([x, dy, filter]);
  }
}

const DEPTHWISE_LAYERS: ConvLayer[] = [
  { x: [32, 48, 48, 96], kernel: 3, stride: 1, outChannels: 96 },
  { x: [32, 48, 48, 96], kernel: 3, stride: 2, outChannels: 96 },
  { x: [32, 24, 24, 144], kernel: 3, stride: 1, outChannels: 144 },
  { x: [32, 12, 12, 384], kernel: 3, stride: 1, outChannels: 384 },
  // mini-xception's separable convolutions
  { x: [32, 44, 44, 16], kernel: 3, stride: 1, outChannels: 16 },
  { x: [32, 22, 22, 32], kernel: 3, stride: 1, outChannels: 32 },
  { x: [32, 6, 6, 128], kernel: 3, stride: 1, outChannels: 128 },
];

function benchDepthwise(withCpu: boolean): void {
  console.log('\nDepthwise backprop (multiplier 1), ms per call');
  const layers = withCpu ? [...DEPTHWISE_LAYERS, { x: [8, 24, 24, 32] as Shape4, kernel: 3, stride: 1, outChannels: 32 }] : DEPTHWISE_LAYERS;
  for (const layer of layers) {
    const filterShape: Shape4 = [layer.kernel, layer.kernel, layer.x[3], 1];
    const info = tf.backend_util.computeConv2DInfo(layer.x, filterShape, layer.stride, 1, 'same', undefined, true);
    const x = tf.randomNormal(layer.x);
    const dy = tf.randomNormal(info.outShape);
    const filter = tf.randomNormal(filterShape);
    const filterAttrs = { strides: layer.stride, pad: 'same', dilations: 1, filterShape };
    const inputAttrs = { strides: layer.stride, pad: 'same', dilations: 1, inputShape: layer.x };
    const timings: Record<string, number> = {
      forward: medianMs(() => tf.dispose(tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, layer.stride, 'same'))),
      dW: timeRegistered(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, filterAttrs),
      dx: timeRegistered(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter }, inputAttrs),
    };
    const small = layer.x[0] * layer.x[1] * layer.x[2] * layer.x[3] <= 200_000;
    if (withCpu && small) {
      const cpu = tf.findBackend('cpu');
      const onCpu = (t: tf.Tensor) => tf.engine().makeTensor(t.dataSync(), t.shape, t.dtype, cpu);
      const [xc, dyc, fc] = [onCpu(x), onCpu(dy), onCpu(filter)];
      const cpuKernel = (name: string) => tf.getKernel(name, 'cpu').kernelFunc;
      const timeCpu = (name: string, inputs: tf.NamedTensorInfoMap, attrs: object) =>
        medianMs(() => {
          const out = cpuKernel(name)({ inputs, backend: cpu, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
          cpu.disposeData(out.dataId);
        });
      timings['cpu dW'] = timeCpu(tf.DepthwiseConv2dNativeBackpropFilter, { x: xc, dy: dyc }, filterAttrs);
      timings['cpu dx'] = timeCpu(tf.DepthwiseConv2dNativeBackpropInput, { dy: dyc, filter: fc }, inputAttrs);
      tf.dispose([xc, dyc, fc]);
    }
    row(label(layer.x, `${layer.kernel}x${layer.kernel}/${layer.stride}`), timings);
    tf.dispose([x, dy, filter]);
  }
}

const POOLS: Array<{ x: Shape4; size: number; stride: number; pad: 'same' | 'valid' }> = [
  { x: [32, 64, 64, 32], size: 2, stride: 2, pad: 'valid' },
  { x: [32, 32, 32, 64], size: 3, stride: 2, pad: 'same' },
  { x: [8, 112, 112, 64], size: 3, stride: 2, pad: 'same' },
  { x: [32, 44, 44, 16], size: 3, stride: 2, pad: 'same' },
];

function benchMaxPool(): void {
  console.log('\nMaxPoolGrad, ms per call');
  for (const pool of POOLS) {
    const x = tf.relu(tf.randomNormal(pool.x));
    const y = tf.maxPool(x as tf.Tensor4D, pool.size, pool.stride, pool.pad);
    const dy = tf.randomNormal(y.shape);
    const attrs = { filterSize: pool.size, strides: pool.stride, pad: pool.pad };
    const inputs = { dy, input: x, output: y };
    row(label(pool.x, `${pool.size}x${pool.size}/${pool.stride} ${pool.pad}`), {
      forward: medianMs(() => tf.dispose(tf.maxPool(x as tf.Tensor4D, pool.size, pool.stride, pool.pad))),
      native: timeKernel(nativeMaxPoolGrad, inputs, attrs),
      'js scan': timeRegistered(tf.MaxPoolGrad, inputs, attrs),
    });
    tf.dispose([x, y, dy]);
  }
}

const BATCH_NORMS: number[][] = [
  [32, 44, 44, 16],
  [32, 22, 22, 32],
  [32, 6, 6, 128],
  [8, 56, 56, 256],
];

/**
 * BatchNorm's training-mode forward with the gradients of x, gamma and beta: tfjs-layers' own
 * (a stock BatchNormalization layer) against trainingBatchNorm, which KerasBatchNormalization runs on wasm.
 */
function benchBatchNorm(): void {
  console.log('\nBatchNormalization training pass + gradients of x, gamma, beta, ms per call');
  for (const shape of BATCH_NORMS) {
    const channels = shape.at(-1)!;
    // Variables, so that one backward pass differentiates x, gamma and beta in both versions.
    const x = tf.variable(tf.randomNormal(shape));
    const w = tf.randomNormal(shape);
    const stock = tf.layers.batchNormalization();
    stock.build(shape);
    const [gamma, beta] = stock.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const differentiate = (loss: () => tf.Scalar) => () => {
      const { value, grads } = tf.variableGrads(loss, [x, gamma!, beta!]);
      tf.dispose([value, grads]);
    };
    const tfjs = differentiate(() => tf.sum(tf.mul(stock.apply(x, { training: true }) as tf.Tensor, w)) as tf.Scalar);
    const ours = differentiate(() => {
      const { y, mean, variance } = trainingBatchNorm(x, gamma as tf.Tensor as tf.Tensor1D, beta as tf.Tensor as tf.Tensor1D, 1e-3);
      tf.dispose([mean, variance]);
      return tf.sum(tf.mul(y, w)) as tf.Scalar;
    });
    row(label(shape, `${channels} channels`), { 'tfjs layers': medianMs(tfjs), 'xnnpack passes': medianMs(ours) });
    // Never applied to a symbolic input, the layer refuses dispose(): free its variables instead.
    stock.weights.forEach((weight) => weight.dispose());
    tf.dispose([x, w]);
  }
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  console.log(`load average ${loadAverage()} on ${os.cpus().length} cores`);
  // Backend first: the native kernels we time are set up when it initializes, and only if still registered.
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  benchConv();
  benchDepthwise(process.argv.includes('--cpu'));
  benchMaxPool();
  benchBatchNorm();
  console.log(`\nload average ${loadAverage()}`);
}

await main();
