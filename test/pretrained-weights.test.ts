// --weights PATH (issue 9, point 5): Keras HDF5 files, TensorFlow.js model directories and
// emotrain checkpoints land in the model by layer name; every bad source is a clear error before
// anything is written. The Keras files are written by h5py (test/helpers/keras-h5-writer.py) in
// Keras' own layout, with random values; the end-to-end runs are in weights-run.test.ts.

import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, truncateSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeightsError } from '../shared/errors.js';
import { buildReplicaModel, type ReplicaModel } from '../shared/replica-model.js';
import { frozenWeightsOf, loadPretrainedWeights, randomFrozenWarning } from '../shared/weights/index.js';
import { cleanUp, tempDir } from './helpers/processes.js';
import { RESNET_TEST_SIZE } from './helpers/models.js';
import {
  SMALL_CNN,
  distinctReplica,
  smallCnnKerasLayers,
  writeCheckpointRun,
  writeKerasH5,
  writeTfjsDirectory,
  type WrittenTensor,
} from './helpers/weights-fixtures.js';

let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
  dir = tempDir('weights');
});

afterAll(cleanUp);

/** The values the model's variable `layer`/`weight` holds now. */
function variableValues(model: tf.LayersModel, layer: string, weight: string): Float32Array {
  const variable = model.getLayer(layer).weights.find((v) => (v.originalName ?? v.name).split('/').pop() === weight);
  if (!variable) throw new Error(`the model has no ${layer}/${weight}`);
  return variable.read().dataSync() as Float32Array;
}

function expectExactly(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  expect(Buffer.compare(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength), Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), what).toBe(0);
}

function expectEveryTensorLanded(model: tf.LayersModel, written: readonly WrittenTensor[]): void {
  for (const tensor of written) expectExactly(variableValues(model, tensor.layer, tensor.weight), tensor.values, `${tensor.layer}/${tensor.weight}`);
}

async function weightsError(action: () => Promise<unknown>): Promise<WeightsError> {
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WeightsError);
  return error as WeightsError;
}

function smallCnn(): ReplicaModel {
  return buildReplicaModel(SMALL_CNN);
}

describe('Keras HDF5 weights files', () => {
  it('puts every tensor written under layer L, weight W into the variable L/W of ResNet50 (keras.applications notop layout)', async () => {
    const file = path.join(dir, 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
    const written = writeKerasH5(file, { layers: 'keras-resnet50-notop', seed: 3, strings: 'fixed' });
    // keras.applications.ResNet50(include_top=False) has 23,587,712 parameters in 106 layers with weights.
    expect(written.reduce((n, t) => n + t.values.length, 0)).toBe(23_587_712);
    const replica = buildReplicaModel({ ...SMALL_CNN, model: 'resnet50', imageSize: RESNET_TEST_SIZE, freeze: '40', preprocessing: 'caffe' });
    const head = (['head_dense', 'predictions'] as const).map((layer) => variableValues(replica.model, layer, 'kernel').slice());
    try {
      const loaded = await loadPretrainedWeights(file, replica, 'resnet50');
      expectEveryTensorLanded(replica.model, written);
      // the frozen layers' values and BatchNorm statistics are slots too: the state sent to workers holds them
      for (const tensor of written) {
        const slot = replica.state.slots.find((s) => s.name === `${tensor.layer}/${tensor.weight}`)!;
        expectExactly(slot.values, tensor.values, `slot ${slot.name}`);
      }
      expectExactly(variableValues(replica.model, 'head_dense', 'kernel'), head[0]!, 'head_dense stays as initialised');
      expectExactly(variableValues(replica.model, 'predictions', 'kernel'), head[1]!, 'predictions stays as initialised');
      expect(loaded.record).toMatchObject({
        kind: 'keras-h5',
        path: file,
        loadedLayers: 106,
        loadedTensors: 318,
        freshLayers: [
          { layer: 'head_dense', reason: 'not in the source (head layers start fresh)' },
          { layer: 'predictions', reason: 'not in the source (head layers start fresh)' },
        ],
        unusedLayers: [],
      });
      expect(loaded.record.files).toEqual([{ path: file, bytes: statSync(file).size, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') }]);
      expect(loaded.lines[0]).toMatch(/^weights: loaded 106 layers of resnet50 \(318 tensors, 23,587,712 values\) from the Keras HDF5 file .*notop\.h5 \(sha256 [0-9a-f]{12}…\)$/);
      expect(loaded.lines).toContain('weights: head_dense: not in the source (head layers start fresh)');
      expect(loaded.lines).toContain('weights: 71 layers have no weights to load (InputLayer 1, ZeroPadding2D 2, Activation 49, MaxPooling2D 1, Add 16, GlobalAveragePooling2D 1, Dropout 1)');
    } finally {
      replica.model.dispose();
      rmSync(file, { force: true });
      rmSync(`${file}.values`, { force: true });
    }
  });

  it('reads the layout tf.keras writes today (variable-length names) into the small CNN, leaving the head fresh', async () => {
    const file = path.join(dir, 'small-cnn-vlen.h5');
    const written = writeKerasH5(file, { layers: smallCnnKerasLayers(), seed: 5, strings: 'vlen' });
    const replica = smallCnn();
    const loaded = await loadPretrainedWeights(file, replica, 'small-cnn');
    expectEveryTensorLanded(replica.model, written);
    expect(loaded.record.loadedLayers).toBe(4);
    expect(loaded.record.freshLayers.map((f) => f.layer)).toEqual(['head_dense', 'predictions']);
  });

  it('reads a whole-model save (model_weights group), layer_names split in chunks, and float64 weights cast to float32', async () => {
    for (const [name, spec] of [
      ['model-save.h5', { root: 'model_weights' }],
      ['chunked.h5', { chunks: 3 }],
      ['float64.h5', { dtype: 'float64' }],
    ] as const) {
      const file = path.join(dir, name);
      const written = writeKerasH5(file, { layers: smallCnnKerasLayers(), seed: 6, ...spec });
      const replica = smallCnn();
      await loadPretrainedWeights(file, replica, 'small-cnn');
      expectEveryTensorLanded(replica.model, written);
    }
  });

  it("uses the source's head when its shapes match, and leaves a head layer that does not fit fresh, saying why", async () => {
    const matching = path.join(dir, 'with-head.h5');
    const written = writeKerasH5(matching, { layers: smallCnnKerasLayers({ head: { predictionsUnits: 7 } }), seed: 8 });
    const replica = smallCnn();
    const loaded = await loadPretrainedWeights(matching, replica, 'small-cnn');
    expectEveryTensorLanded(replica.model, written);
    expect(loaded.record).toMatchObject({ loadedLayers: 6, freshLayers: [] });

    const imagenetHead = path.join(dir, 'imagenet-head.h5');
    writeKerasH5(imagenetHead, { layers: smallCnnKerasLayers({ head: { predictionsUnits: 1000 } }), seed: 9 });
    const other = smallCnn();
    const initial = variableValues(other.model, 'predictions', 'kernel').slice();
    const partly = await loadPretrainedWeights(imagenetHead, other, 'small-cnn');
    expect(partly.record.loadedLayers).toBe(5);
    expect(partly.record.freshLayers).toEqual([
      {
        layer: 'predictions',
        reason: `layer predictions: kernel has shape [128, 1000] in the source (/predictions/predictions/kernel:0), this model's is [128, 7] (head layers start fresh when the source's do not fit)`,
      },
    ]);
    expectExactly(variableValues(other.model, 'predictions', 'kernel'), initial, 'predictions stays as initialised');
  });

  it('lists the layers of the file that the model does not have', async () => {
    const file = path.join(dir, 'extra-layer.h5');
    writeKerasH5(file, { layers: [...smallCnnKerasLayers(), { name: 'fc1000', weights: [{ name: 'kernel', shape: [128, 1000] }] }] });
    const loaded = await loadPretrainedWeights(file, smallCnn(), 'small-cnn');
    expect(loaded.record.unusedLayers).toEqual(['fc1000']);
    expect(loaded.lines).toContain('weights: not used, as small-cnn has no such layers: fc1000');
  });
});

describe('bad weights sources', () => {
  it('names the layer and both shapes when a backbone weight has another shape, and writes nothing', async () => {
    const file = path.join(dir, 'shape-mismatch.h5');
    const layers = smallCnnKerasLayers();
    layers[2] = { name: 'conv2_conv', weights: [{ name: 'kernel', shape: [3, 3, 16, 48] }, { name: 'bias', shape: [48] }] };
    writeKerasH5(file, { layers });
    const replica = smallCnn();
    const before = replica.state.checksum();
    const error = await weightsError(() => loadPretrainedWeights(file, replica, 'small-cnn'));
    expect(error.code).toBe('WEIGHTS_MISMATCH');
    expect(error.message).toBe(
      `the Keras HDF5 file ${file} does not fit the backbone of small-cnn: layer conv2_conv: kernel has shape [3, 3, 16, 48] in the source (/conv2_conv/conv2_conv/kernel:0), this model's is [3, 3, 16, 32]`,
    );
    expect(replica.state.checksum()).toBe(before);
  });

  it('names a backbone layer the file lacks', async () => {
    const file = path.join(dir, 'missing-layer.h5');
    writeKerasH5(file, { layers: smallCnnKerasLayers().filter((layer) => layer.name !== 'conv3_conv') });
    const error = await weightsError(() => loadPretrainedWeights(file, smallCnn(), 'small-cnn'));
    expect(error.code).toBe('WEIGHTS_MISMATCH');
    expect(error.message).toContain('layer conv3_conv (kernel [3, 3, 32, 64], bias [64]) is not in the source');
  });

  it('says the weights are for another model when none of the backbone is there', async () => {
    const file = path.join(dir, 'other-model.h5');
    writeKerasH5(file, { layers: [{ name: 'dense_1', weights: [{ name: 'kernel', shape: [4, 4] }] }] });
    const error = await weightsError(() => loadPretrainedWeights(file, smallCnn(), 'small-cnn'));
    expect(error.message).toBe(
      `the Keras HDF5 file ${file} has none of the 4 backbone layers with weights of small-cnn (it has 1 layer with weights: dense_1): are these weights for another model?`,
    );
  });

  it("points at today's keras.applications file when given one with the original ResNet50 port's layer names", async () => {
    const file = path.join(dir, 'original-names.h5');
    writeKerasH5(file, { layers: [{ name: 'conv1', weights: [{ name: 'kernel', shape: [7, 7, 3, 64] }] }, { name: 'bn_conv1', weights: [{ name: 'gamma', shape: [64] }] }] });
    const error = await weightsError(() => loadPretrainedWeights(file, smallCnn(), 'small-cnn'));
    expect(error.code).toBe('WEIGHTS_MISMATCH');
    expect(error.message).toMatch(/are these weights for another model\? The file uses the layer names of the original ResNet50 port \(bn_conv1, res2a_branch2a\)/);
  });

  it('says a truncated file is truncated, with both sizes', async () => {
    const file = path.join(dir, 'truncated.h5');
    writeKerasH5(file, { layers: smallCnnKerasLayers() });
    const size = statSync(file).size;
    truncateSync(file, Math.floor(size / 2));
    const error = await weightsError(() => loadPretrainedWeights(file, smallCnn(), 'small-cnn'));
    expect(error.code).toBe('WEIGHTS_UNREADABLE');
    expect(error.message).toBe(
      `${file} is truncated: it has ${Math.floor(size / 2)} bytes, but its HDF5 superblock says the file is ${size} bytes (an interrupted download or copy?)`,
    );
  });

  it('refuses an HDF5 file that is not Keras weights, and a file that is not HDF5', async () => {
    const bare = path.join(dir, 'bare.h5');
    writeKerasH5(bare, { layers: [], bare: true });
    const notKeras = await weightsError(() => loadPretrainedWeights(bare, smallCnn(), 'small-cnn'));
    expect(notKeras.code).toBe('WEIGHTS_UNRECOGNIZED');
    expect(notKeras.message).toBe(`${bare} is an HDF5 file but not Keras weights: it has no layer_names attribute (Keras' save_weights writes one on the root, with a group per layer)`);

    const text = path.join(dir, 'notes.h5');
    writeFileSync(text, 'these are not weights\n');
    const notHdf5 = await weightsError(() => loadPretrainedWeights(text, smallCnn(), 'small-cnn'));
    expect(notHdf5.code).toBe('WEIGHTS_UNRECOGNIZED');
    expect(notHdf5.message).toMatch(new RegExp(`^--weights ${text}: ${text} is not a weights file: it is not HDF5 \\(no HDF5 signature\\) and not model.json; expected a Keras HDF5 weights file`));
  });

  it('names a path that does not exist, and a directory that holds no model', async () => {
    const missing = path.join(dir, 'nowhere.h5');
    const notFound = await weightsError(() => loadPretrainedWeights(missing, smallCnn(), 'small-cnn'));
    expect(notFound.code).toBe('WEIGHTS_NOT_FOUND');
    expect(notFound.message).toMatch(new RegExp(`^--weights ${missing}: ${missing} does not exist`));

    const empty = path.join(dir, 'empty-dir');
    mkdirSync(empty);
    writeFileSync(path.join(empty, 'resnet50.h5'), '');
    const unrecognized = await weightsError(() => loadPretrainedWeights(empty, smallCnn(), 'small-cnn'));
    expect(unrecognized.code).toBe('WEIGHTS_UNRECOGNIZED');
    expect(unrecognized.message).toContain(`${empty} has no model.json and is not a run directory (it holds resnet50.h5: give the file itself)`);
  });
});

describe('TensorFlow.js layers model directories', () => {
  it('loads every weight, the head too, from a model split over two shard files', async () => {
    const source = distinctReplica(SMALL_CNN);
    const tfjsDir = path.join(dir, 'tfjs-model');
    await writeTfjsDirectory(tfjsDir, source.model);
    const replica = smallCnn();
    const loaded = await loadPretrainedWeights(tfjsDir, replica, 'small-cnn');
    expect(replica.state.checksum()).toBe(source.state.checksum());
    expect(loaded.record).toMatchObject({ kind: 'tfjs-layers', loadedLayers: 6, freshLayers: [], unusedLayers: [] });
    expect(loaded.record.files.map((f) => path.basename(f.path))).toEqual(['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin']);
    // model.json itself may be given
    const again = smallCnn();
    await loadPretrainedWeights(path.join(tfjsDir, 'model.json'), again, 'small-cnn');
    expect(again.state.checksum()).toBe(source.state.checksum());
  });

  it('dequantises weights that tensorflowjs_converter stored as uint8', async () => {
    const source = distinctReplica(SMALL_CNN);
    const quantizedDir = path.join(dir, 'tfjs-uint8');
    await writeTfjsDirectory(quantizedDir, source.model);
    const modelJson = JSON.parse(readFileSync(path.join(quantizedDir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const group = modelJson.weightsManifest[0]!;
    const bytes: number[] = [];
    const expected = new Map<string, Float32Array>();
    group.weights.forEach((spec, i) => {
      const quantization = { dtype: 'uint8' as const, scale: 0.01, min: -1 - i / 100 };
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const q = Array.from({ length: count }, (_, k) => (k * 37 + i) % 256);
      bytes.push(...q);
      expected.set(spec.name, Float32Array.from(q, (v) => v * quantization.scale + quantization.min));
      spec.quantization = quantization;
    });
    group.paths = ['group1-shard1of1.bin'];
    writeFileSync(path.join(quantizedDir, 'model.json'), JSON.stringify(modelJson));
    writeFileSync(path.join(quantizedDir, 'group1-shard1of1.bin'), Uint8Array.from(bytes));
    const replica = smallCnn();
    await loadPretrainedWeights(quantizedDir, replica, 'small-cnn');
    for (const slot of replica.state.slots) expectExactly(slot.values, expected.get(slot.name)!, slot.name);
  });

  it('names the shard file that is short', async () => {
    const tfjsDir = path.join(dir, 'tfjs-short');
    await writeTfjsDirectory(tfjsDir, distinctReplica(SMALL_CNN).model);
    const shard = path.join(tfjsDir, 'group1-shard2of2.bin');
    truncateSync(shard, statSync(shard).size - 8);
    const error = await weightsError(() => loadPretrainedWeights(tfjsDir, smallCnn(), 'small-cnn'));
    expect(error.code).toBe('WEIGHTS_UNREADABLE');
    expect(error.message).toMatch(new RegExp(`^${tfjsDir}: model.json declares (\\d+) bytes of weights, the weight files hold \\d+$`));
  });

  it('refuses a graph model, whose weights are not named by layer', async () => {
    const graphDir = path.join(dir, 'graph-model');
    mkdirSync(graphDir);
    writeFileSync(path.join(graphDir, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
    const error = await weightsError(() => loadPretrainedWeights(graphDir, smallCnn(), 'small-cnn'));
    expect(error.code).toBe('WEIGHTS_UNRECOGNIZED');
    expect(error.message).toContain('is a TensorFlow.js graph model');
  });
});

describe('emotrain checkpoints', () => {
  it('fine-tunes from an earlier run: the run directory means its checkpoints/best, and best/ or last/ may be named', async () => {
    const earlier = distinctReplica(SMALL_CNN);
    const runDir = path.join(dir, 'earlier-run');
    await writeCheckpointRun(runDir, earlier, SMALL_CNN);
    for (const given of [runDir, path.join(runDir, 'checkpoints', 'best'), path.join(runDir, 'checkpoints', 'last')]) {
      const replica = smallCnn();
      const loaded = await loadPretrainedWeights(given, replica, 'small-cnn');
      expect(replica.state.checksum(), given).toBe(earlier.state.checksum());
      expect(loaded.record.kind).toBe('emotrain-checkpoint');
      expect(loaded.record.path).toBe(given === runDir ? path.join(runDir, 'checkpoints', 'best') : given);
      expect(loaded.lines[0]).toContain('(run earlier, epoch 3, val_accuracy 0.5)');
      expect(loaded.lines).toContain('weights: weights only: the optimiser, step, learning rate and loss scale start afresh (coordinator --resume continues a run instead)');
    }
  });

  it('refuses a checkpoint of another model, and a run directory without checkpoints/best', async () => {
    const resnetRun = path.join(dir, 'resnet-run');
    const config = { ...SMALL_CNN, model: 'resnet50' as const };
    await writeCheckpointRun(resnetRun, distinctReplica(SMALL_CNN), config, ['best']);
    const other = await weightsError(() => loadPretrainedWeights(resnetRun, smallCnn(), 'small-cnn'));
    expect(other.code).toBe('WEIGHTS_MISMATCH');
    expect(other.message).toBe(`${path.join(resnetRun, 'checkpoints', 'best')} is a checkpoint of a resnet50 run (earlier), but this run trains small-cnn`);

    const young = path.join(dir, 'young-run');
    await writeCheckpointRun(young, distinctReplica(SMALL_CNN), SMALL_CNN, ['last']);
    const noBest = await weightsError(() => loadPretrainedWeights(young, smallCnn(), 'small-cnn'));
    expect(noBest.code).toBe('WEIGHTS_NOT_FOUND');
    expect(noBest.message).toBe(`--weights ${young}: the run directory ${young} has no checkpoints/best; give ${path.join(young, 'checkpoints', 'last')} to start from its last checkpoint`);
  });
});

describe('frozen layers without weights', () => {
  it("warns about ResNet50's --freeze 40 without --weights, and not with them or with nothing frozen", () => {
    const replica = buildReplicaModel({ ...SMALL_CNN, model: 'resnet50', imageSize: RESNET_TEST_SIZE, freeze: '40', preprocessing: 'caffe' });
    try {
      const frozen = frozenWeightsOf(replica.model);
      // layers[:40] holds conv1's conv and BN, conv2's three blocks (20 layers) and conv3_block1_1_conv
      expect(frozen.layers).toBe(23);
      const warning = randomFrozenWarning({ freeze: '40', model: 'resnet50', weightsGiven: false }, frozen);
      expect(warning?.code).toBe('FROZEN_RANDOM_WEIGHTS');
      expect(warning?.message).toMatch(/^--freeze 40 freezes 23 layers of resnet50 with weights \([\d,]+ values\) that are RANDOM: no --weights was given/);
      expect(randomFrozenWarning({ freeze: '40', model: 'resnet50', weightsGiven: true }, frozen)).toBeUndefined();
      expect(randomFrozenWarning({ freeze: '1', model: 'resnet50', weightsGiven: false }, { layers: 0, values: 0 })).toBeUndefined();
    } finally {
      replica.model.dispose();
    }
  });
});
