import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { BackendError } from '../shared/errors.js';
import { chooseFilterGradFormulation, chooseInputGradFormulation, kernelFormulations } from '../shared/backend/wasm-kernels/formulations.js';
import { buildModel, regularizationLoss, trainableVariables } from '../shared/models/index.js';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '../shared/backend/wasm-kernels/index.js';
import { TOLERANCE, onBackend, randomValues, relativeError, useWasmTrainingKernels } from './helpers/parity.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

const REGISTERED = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'MaxPoolGrad',
  'Identity',
];
// Captured at import, before anything is registered: what unregistering must restore.
const nativeConv2DBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
const nativeMaxPoolGrad = tf.getKernel('MaxPoolGrad', 'wasm');
const nativeIdentity = tf.getKernel('Identity', 'wasm');

/** Runs a registered kernel through the engine on the current backend and returns its values. */
function runKernel(kernelName: string, inputs: Record<string, { values: Float32Array; shape: number[] }>, attrs: object): Float32Array {
  return tf.tidy(() => {
    const tensors: tf.NamedTensorMap = {};
    for (const [name, { values, shape }] of Object.entries(inputs)) tensors[name] = tf.tensor(values, shape);
    const out = tf.engine().runKernel(kernelName, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

/** Runs one formulation's kernel function directly on the wasm backend and returns its values. */
function runFormulation(kernelFunc: tf.KernelFunc, inputs: Record<string, { values: Float32Array; shape: number[] }>, attrs: object): Float32Array {
  const backend = tf.backend();
  return tf.tidy(() => {
    const tensors: tf.NamedTensorInfoMap = {};
    for (const [name, { values, shape }] of Object.entries(inputs)) tensors[name] = tf.tensor(values, shape);
    const out = kernelFunc({ inputs: tensors, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
    const values = backend.readSync(out.dataId) as Float32Array;
    backend.disposeData(out.dataId);
    return values;
  });
}

useWasmTrainingKernels();

describe('wasm training kernels, end to end', () => {
  /** A small conv net from tf ops: every kernel size, stride, padding and a depthwise conv. */
  function convNet(x: tf.Tensor4D, [f7, f3, dw, f1, f5]: tf.Tensor4D[], head: tf.Tensor): tf.Scalar {
    let h = tf.relu(tf.conv2d(x, f7, 2, 'same')); // 17x17 -> 9x9, asymmetric 'same'
    h = tf.relu(tf.conv2d(h, f3, 1, 'same'));
    h = tf.maxPool(h, 3, 1, 'same');
    h = tf.relu(tf.depthwiseConv2d(h, dw, 2, 'same')); // 9x9 -> 5x5, multiplier 2
    h = tf.relu(tf.conv2d(h, f1, 1, 'valid'));
    h = tf.conv2d(h, f5, 3, 'valid'); // 5x5 kernel, stride 3: 5x5 -> 1x1
    return tf.sum(tf.mul(h, head));
  }
  const xShape: Shape4 = [2, 17, 17, 3];
  const filterShapes: Shape4[] = [
    [7, 7, 3, 4],
    [3, 3, 4, 5],
    [3, 3, 5, 2],
    [1, 1, 10, 6],
    [5, 5, 6, 3],
  ];
  const headShape = [2, 1, 1, 3];

  function gradients(seed: number): Float32Array[] {
    return tf.tidy(() => {
      const x = tf.tensor4d(randomValues(xShape, seed), xShape);
      const filters = filterShapes.map((shape, i) => tf.tensor4d(randomValues(shape, seed + 1 + i), shape));
      const head = tf.tensor(randomValues(headShape, seed + 99), headShape);
      const grads = tf.grads((x: tf.Tensor, ...fs: tf.Tensor[]) => convNet(x as tf.Tensor4D, fs as tf.Tensor4D[], head))([x, ...filters]);
      return grads.map((g) => g.dataSync() as Float32Array);
    });
  }

  it('computes the input and every filter gradient of a small conv net like the cpu backend', async () => {
    const wasm = await onBackend('wasm', () => gradients(7));
    const cpu = await onBackend('cpu', () => gradients(7));
    const names = ['x', 'conv7x7/2 same', 'conv3x3/1 same', 'depthwise3x3/2 same', 'conv1x1/1 valid', 'conv5x5/3 valid'];
    names.forEach((name, i) => {
      expect(relativeError(wasm[i], cpu[i]), name).toBeLessThanOrEqual(TOLERANCE);
    });
  });

  // The whole model the kernels were made for: separable convs, stride-2 residuals, BatchNorm in
  // training mode (batch statistics), max pooling, the L2 terms.
  it('computes every gradient of mini-xception like the cpu backend', async () => {
    const miniXceptionGradients = () => {
      const model = buildModel({ name: 'mini-xception', imageSize: 24, seed: 5, freeze: { kind: 'none' }, head: 'paper', dropout: 0, l2: 0.01 });
      try {
        return tf.tidy(() => {
          const x = tf.tensor4d(randomValues([4, 24, 24, 3], 50), [4, 24, 24, 3]);
          const labels = tf.oneHot(tf.tensor1d([0, 3, 5, 6], 'int32'), 7);
          const variables = trainableVariables(model).map((v) => v.read() as tf.Variable);
          const { grads } = tf.variableGrads(() => {
            const dataLoss = tf.mean(tf.metrics.categoricalCrossentropy(labels, model.apply(x, { training: true }) as tf.Tensor));
            return tf.add(dataLoss, regularizationLoss(model)) as tf.Scalar;
          }, variables);
          return trainableVariables(model).map((v) => ({ name: v.originalName, values: grads[v.name]!.dataSync() as Float32Array }));
        });
      } finally {
        model.dispose();
      }
    };
    const cpu = await onBackend('cpu', miniXceptionGradients);
    const wasm = await onBackend('wasm', miniXceptionGradients);
    expect(wasm.map((g) => g.name)).toEqual(cpu.map((g) => g.name));
    wasm.forEach((g, i) => expect(relativeError(g.values, cpu[i]!.values), g.name).toBeLessThanOrEqual(TOLERANCE));
  });

  it('does not leak tensors or wasm memory across repeated gradient computations', async () => {
    await tf.setBackend('wasm');
    gradients(11);
    const tensors = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds();
    for (let i = 0; i < 3; i++) gradients(11 + i);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(dataIds);
  });
});

interface ConvCase {
  name: string;
  x: Shape4;
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CONV_CASES: ConvCase[] = [
  { name: '3x3 stride 1 same, odd 13x17', x: [2, 13, 17, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { name: '7x7 stride 2 same', x: [2, 17, 13, 3], filter: [7, 7, 3, 4], strides: 2, pad: 'same' },
  { name: '5x5 stride 3 valid', x: [2, 17, 16, 5], filter: [5, 5, 5, 4], strides: 3, pad: 'valid' },
  { name: '1x1 stride 2 same', x: [2, 9, 9, 4], filter: [1, 1, 4, 3], strides: 2, pad: 'same' },
  { name: '1x1 stride 1 valid', x: [2, 6, 7, 4], filter: [1, 1, 4, 5], strides: 1, pad: 'valid' },
  { name: '4x4 stride 2 same, even kernel', x: [2, 10, 11, 2], filter: [4, 4, 2, 3], strides: 2, pad: 'same' },
  { name: '2x3 strides [2,1] valid', x: [2, 9, 8, 3], filter: [2, 3, 3, 2], strides: [2, 1], pad: 'valid' },
  { name: '3x3 stride 2 explicit padding', x: [2, 9, 10, 4], filter: [3, 3, 4, 3], strides: 2, pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { name: '3x3 stride 2 pad 1 ceil', x: [2, 8, 8, 2], filter: [3, 3, 2, 3], strides: 2, pad: 1, dimRoundingMode: 'ceil' },
  { name: '2x2 stride 3 valid, kernel smaller than stride', x: [2, 11, 11, 2], filter: [2, 2, 2, 3], strides: 3, pad: 'valid' },
  { name: '3x3 stride 1 same, 40 input channels', x: [2, 7, 7, 40], filter: [3, 3, 40, 6], strides: 1, pad: 'same' },
  { name: '1x1 stride 2 valid, batch 1, even 10x8', x: [1, 10, 8, 5], filter: [1, 1, 5, 3], strides: 2, pad: 'valid' },
  { name: '1x1 stride 3 same, odd 11x7', x: [3, 11, 7, 2], filter: [1, 1, 2, 4], strides: 3, pad: 'same' },
  { name: '1x1 strides [2,1] same', x: [2, 7, 6, 3], filter: [1, 1, 3, 2], strides: [2, 1], pad: 'same' },
  { name: '1x1 stride 2 explicit padding', x: [2, 6, 6, 3], filter: [1, 1, 3, 2], strides: 2, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] },
];

/** Whether a formulation computes this case; the pointwise ones serve only 1x1 convolutions that read no padding. */
function formulationApplies(name: string, c: ConvCase): boolean {
  if (!name.startsWith('pointwise')) return true;
  const { padInfo } = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, c.dimRoundingMode);
  return c.filter[0] === 1 && c.filter[1] === 1 && padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0;
}

function convOutShape(c: ConvCase, depthwise = false, dilations: number | [number, number] = 1): Shape4 {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, dilations, c.pad, c.dimRoundingMode, depthwise, 'channelsLast').outShape as Shape4;
}

describe('Conv2DBackpropFilter on wasm', () => {
  it('uses both formulations across the table, so both are checked by the shape rule too', () => {
    const chosen = new Set(
      CONV_CASES.map((c) => chooseFilterGradFormulation(tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, c.dimRoundingMode))),
    );
    expect([...chosen].sort()).toEqual(['im2col-matmul', 'pointwise-matmul', 'transposed-conv']);
  });

  it.each(CONV_CASES)('matches the cpu backend with every formulation: $name', async (c) => {
    const inputs = { x: { values: randomValues(c.x, 1), shape: c.x }, dy: { values: randomValues(convOutShape(c), 2), shape: convOutShape(c) } };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode, filterShape: c.filter };
    const cpu = await onBackend('cpu', () => runKernel('Conv2DBackpropFilter', inputs, attrs));
    await tf.setBackend('wasm');
    expect(relativeError(runKernel('Conv2DBackpropFilter', inputs, attrs), cpu), 'registered').toBeLessThanOrEqual(TOLERANCE);
    for (const [name, kernelFunc] of Object.entries(kernelFormulations.conv2dBackpropFilter)) {
      if (formulationApplies(name, c)) expect(relativeError(runFormulation(kernelFunc, inputs, attrs), cpu), name).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  // 'valid' 3x3 stride 2 on 14 rows/cols never reads the last row and column.
  it('ignores non-finite input pixels that no output reads, like the cpu backend', async () => {
    const x: Shape4 = [1, 14, 14, 2];
    const values = randomValues(x, 16);
    for (let i = 0; i < 14; i++) {
      values.fill(NaN, (13 * 14 + i) * 2, (13 * 14 + i + 1) * 2);
      values.fill(Infinity, (i * 14 + 13) * 2, (i * 14 + 14) * 2);
    }
    const dyShape: Shape4 = [1, 6, 6, 3];
    const inputs = { x: { values, shape: x }, dy: { values: randomValues(dyShape, 17), shape: dyShape } };
    const attrs = { strides: 2, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
    const cpu = await onBackend('cpu', () => runKernel('Conv2DBackpropFilter', inputs, attrs));
    expect(cpu.every(Number.isFinite)).toBe(true);
    await tf.setBackend('wasm');
    for (const [name, kernelFunc] of Object.entries(kernelFormulations.conv2dBackpropFilter)) {
      if (name !== 'pointwise-matmul') expect(relativeError(runFormulation(kernelFunc, inputs, attrs), cpu), name).toBeLessThanOrEqual(TOLERANCE);
    }
    const depthwiseDy: Shape4 = [1, 6, 6, 2];
    const depthwise = { x: { values, shape: x }, dy: { values: randomValues(depthwiseDy, 18), shape: depthwiseDy } };
    const depthwiseAttrs = { strides: 2, pad: 'valid', dilations: 1, filterShape: [3, 3, 2, 1] };
    const cpuDepthwise = await onBackend('cpu', () => runKernel('DepthwiseConv2dNativeBackpropFilter', depthwise, depthwiseAttrs));
    const wasmDepthwise = await onBackend('wasm', () => runKernel('DepthwiseConv2dNativeBackpropFilter', depthwise, depthwiseAttrs));
    expect(relativeError(wasmDepthwise, cpuDepthwise), 'depthwise').toBeLessThanOrEqual(TOLERANCE);
  });

  it('throws a BackendError naming dataFormat for NCHW instead of computing something wrong', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 3, 5, 5]);
    const dy = tf.zeros([1, 2, 5, 5]);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 2] };
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs)).toThrow(BackendError);
    expect(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs)).toThrow(/dataFormat 'NCHW'/);
    tf.dispose([x, dy]);
  });
});

describe('Conv2DBackpropInput on wasm', () => {
  it('uses both registered formulations across the table', () => {
    const chosen = new Set(
      CONV_CASES.map((c) => chooseInputGradFormulation(tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, c.dimRoundingMode))),
    );
    expect([...chosen].sort()).toEqual(['pointwise-conv', 'sub-pixel-conv']);
  });

  it('refuses a pointwise formulation for a kernel it cannot compute, naming it', async () => {
    await tf.setBackend('wasm');
    const inputs = { dy: { values: randomValues([1, 3, 3, 2], 20), shape: [1, 3, 3, 2] }, filter: { values: randomValues([3, 3, 2, 2], 21), shape: [3, 3, 2, 2] } };
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [1, 3, 3, 2] };
    expect(() => runFormulation(kernelFormulations.conv2dBackpropInput['pointwise-conv'], inputs, attrs)).toThrow(/pointwise-conv needs a 1x1 filter without padding, got 3x3/);
  });

  it.each(CONV_CASES)('matches the cpu backend with every formulation: $name', async (c) => {
    const inputs = { dy: { values: randomValues(convOutShape(c), 3), shape: convOutShape(c) }, filter: { values: randomValues(c.filter, 4), shape: c.filter } };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode, inputShape: c.x };
    const cpu = await onBackend('cpu', () => runKernel('Conv2DBackpropInput', inputs, attrs));
    await tf.setBackend('wasm');
    expect(relativeError(runKernel('Conv2DBackpropInput', inputs, attrs), cpu), 'registered').toBeLessThanOrEqual(TOLERANCE);
    for (const [name, kernelFunc] of Object.entries(kernelFormulations.conv2dBackpropInput)) {
      if (formulationApplies(name, c)) expect(relativeError(runFormulation(kernelFunc, inputs, attrs), cpu), name).toBeLessThanOrEqual(TOLERANCE);
    }
  });
});

interface DepthwiseCase {
  name: string;
  x: Shape4;
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
}

const DEPTHWISE_CASES: DepthwiseCase[] = [
  { name: '3x3 stride 1 same, odd 13x17', x: [2, 13, 17, 4], filter: [3, 3, 4, 1], strides: 1, pad: 'same' },
  { name: '3x3 stride 2 same', x: [2, 13, 13, 4], filter: [3, 3, 4, 1], strides: 2, pad: 'same' },
  { name: '7x7 stride 2 same', x: [2, 17, 15, 3], filter: [7, 7, 3, 1], strides: 2, pad: 'same' },
  { name: '5x5 stride 3 valid, multiplier 2', x: [2, 17, 16, 3], filter: [5, 5, 3, 2], strides: 3, pad: 'valid' },
  { name: '1x1 stride 2 same, multiplier 3', x: [2, 9, 9, 2], filter: [1, 1, 2, 3], strides: 2, pad: 'same' },
  { name: '3x3 stride 1 explicit padding', x: [2, 8, 9, 3], filter: [3, 3, 3, 1], strides: 1, pad: [[0, 0], [0, 2], [3, 1], [0, 0]] },
];

describe('depthwise conv backprop on wasm', () => {
  it.each(DEPTHWISE_CASES)('DepthwiseConv2dNativeBackpropFilter matches the cpu backend: $name', async (c) => {
    const out = convOutShape({ ...c }, true);
    const inputs = { x: { values: randomValues(c.x, 5), shape: c.x }, dy: { values: randomValues(out, 6), shape: out } };
    const attrs = { strides: c.strides, pad: c.pad, dilations: 1, filterShape: c.filter };
    const cpu = await onBackend('cpu', () => runKernel('DepthwiseConv2dNativeBackpropFilter', inputs, attrs));
    const wasm = await onBackend('wasm', () => runKernel('DepthwiseConv2dNativeBackpropFilter', inputs, attrs));
    expect(relativeError(wasm, cpu)).toBeLessThanOrEqual(TOLERANCE);
  });

  it.each(DEPTHWISE_CASES)('DepthwiseConv2dNativeBackpropInput matches the cpu backend: $name', async (c) => {
    const out = convOutShape({ ...c }, true);
    const inputs = { dy: { values: randomValues(out, 7), shape: out }, filter: { values: randomValues(c.filter, 8), shape: c.filter } };
    const attrs = { strides: c.strides, pad: c.pad, dilations: 1, inputShape: c.x };
    const cpu = await onBackend('cpu', () => runKernel('DepthwiseConv2dNativeBackpropInput', inputs, attrs));
    const wasm = await onBackend('wasm', () => runKernel('DepthwiseConv2dNativeBackpropInput', inputs, attrs));
    expect(relativeError(wasm, cpu)).toBeLessThanOrEqual(TOLERANCE);
  });

  // The cpu backend's depthwise backprop kernels ignore dilations, so the reference is the
  // equivalent undilated conv whose filter has the taps spread out with zeros in between.
  it('honours dilations, matching the undilated conv with a zero-spread filter', async () => {
    const x: Shape4 = [2, 11, 12, 3];
    const filter: Shape4 = [3, 2, 3, 2];
    const dilation = 2;
    const spread: Shape4 = [5, 3, 3, 2];
    const base = { name: '', x, filter, strides: 1, pad: 'same' as const };
    const out = convOutShape(base, true, dilation);
    expect(out).toEqual(convOutShape({ ...base, filter: spread }, true));
    const w = randomValues(filter, 9);
    const wSpread = new Float32Array(spread.reduce((a, b) => a * b, 1));
    const tap = 3 * 2;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) wSpread.set(w.subarray((i * 2 + j) * tap, (i * 2 + j + 1) * tap), (i * dilation * 3 + j * dilation) * tap);
    const dy = { values: randomValues(out, 10), shape: out };
    const xs = { values: randomValues(x, 11), shape: x };

    const cpuDx = await onBackend('cpu', () =>
      runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: { values: wSpread, shape: spread } }, { strides: 1, pad: 'same', dilations: 1, inputShape: x }),
    );
    const cpuDwSpread = await onBackend('cpu', () =>
      runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xs, dy }, { strides: 1, pad: 'same', dilations: 1, filterShape: spread }),
    );
    const cpuDw = new Float32Array(w.length);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) cpuDw.set(cpuDwSpread.subarray((i * dilation * 3 + j * dilation) * tap, (i * dilation * 3 + j * dilation + 1) * tap), (i * 2 + j) * tap);

    await tf.setBackend('wasm');
    const wasmDx = runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: { values: w, shape: filter } }, { strides: 1, pad: 'same', dilations: dilation, inputShape: x });
    const wasmDw = runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xs, dy }, { strides: 1, pad: 'same', dilations: dilation, filterShape: filter });
    expect(relativeError(wasmDx, cpuDx), 'dx').toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(wasmDw, cpuDw), 'dW').toBeLessThanOrEqual(TOLERANCE);
  });
});

interface PoolCase {
  name: string;
  x: Shape4;
  filterSize: number;
  strides: number;
  pad: Pad;
}

const POOL_CASES: PoolCase[] = [
  { name: '2x2 stride 2 valid', x: [2, 8, 8, 3], filterSize: 2, strides: 2, pad: 'valid' },
  { name: '3x3 stride 2 same, odd 13x13', x: [2, 13, 13, 3], filterSize: 3, strides: 2, pad: 'same' },
  { name: '3x3 stride 1 same, overlapping windows', x: [2, 7, 9, 2], filterSize: 3, strides: 1, pad: 'same' },
  { name: '2x2 stride 2 same, odd 9x9', x: [2, 9, 9, 4], filterSize: 2, strides: 2, pad: 'same' },
];

describe('MaxPoolGrad on wasm', () => {
  // Values rounded to halves after a ReLU: most windows hold ties, where the gradient must go to
  // the first maximum like on the cpu backend (wasm's native kernel gives it to the last one).
  it.each(POOL_CASES)('sends each window gradient to its first maximum like the cpu backend: $name', async (c) => {
    const x = randomValues(c.x, 12).map((v) => Math.max(0, Math.round(v * 2) / 2));
    const y = await onBackend('cpu', () => tf.tidy(() => tf.maxPool(tf.tensor4d(x, c.x), c.filterSize, c.strides, c.pad as 'same').dataSync() as Float32Array));
    const yShape = tf.backend_util.computePool2DInfo(c.x, c.filterSize, c.strides, 1, c.pad).outShape;
    const inputs = { dy: { values: randomValues(yShape, 13), shape: yShape }, input: { values: x, shape: c.x }, output: { values: y, shape: yShape } };
    const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad };
    const cpu = await onBackend('cpu', () => runKernel('MaxPoolGrad', inputs, attrs));
    const wasm = await onBackend('wasm', () => runKernel('MaxPoolGrad', inputs, attrs));
    expect(relativeError(wasm, cpu)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('Identity on wasm', () => {
  it('shares the data instead of copying it, and the copy outlives the original', async () => {
    await tf.setBackend('wasm');
    const dataIds = tf.backend().numDataIds();
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const y = tf.clone(x);
    expect(tf.backend().numDataIds()).toBe(dataIds + 1);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    y.dispose();
    expect(tf.backend().numDataIds()).toBe(dataIds);
  });
});

describe('registering the wasm training kernels', () => {
  it('is idempotent and unregistering restores the native kernels, which still run', async () => {
    await tf.setBackend('wasm');
    expect(registerWasmTrainingKernels()).toEqual([]);

    unregisterWasmTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')).toBeUndefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBe(nativeConv2DBackpropInput);
    expect(tf.getKernel('MaxPoolGrad', 'wasm')).toBe(nativeMaxPoolGrad);
    expect(tf.getKernel('Identity', 'wasm')).toBe(nativeIdentity);
    // They were replaced before the backend initialized, so restoring must also set them up.
    const transposedConv = () =>
      tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(randomValues([1, 3, 3, 2], 14), [1, 3, 3, 2]), tf.tensor4d(randomValues([3, 3, 1, 2], 15), [3, 3, 1, 2]), [1, 5, 5, 1], 2, 'same').dataSync() as Float32Array);
    const cpu = await onBackend('cpu', transposedConv);
    expect(relativeError(await onBackend('wasm', transposedConv), cpu)).toBeLessThanOrEqual(TOLERANCE);

    expect(registerWasmTrainingKernels().sort()).toEqual([...REGISTERED].sort());
    expect(registerWasmTrainingKernels()).toEqual([]);
  });
});
