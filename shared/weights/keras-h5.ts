// Reads a Keras HDF5 weights file into SourceLayers, with h5wasm. The layout is the one Keras 2 /
// tf.keras `save_weights` writes and keras.applications ships (keras/saving/hdf5_format.py,
// save_weights_to_hdf5_group): the root's `layer_names` attribute lists the model's layers, each
// layer is a group whose `weight_names` attribute lists its weights, and each weight is a dataset
// at <layer>/<weight name>, e.g. /conv1_conv/conv1_conv/kernel:0. A long list is split over
// `layer_names0`, `layer_names1`, ... (HDF5 caps an object header at 64 KiB); a whole-model save
// (`model.save('m.h5')`) keeps the same layout under /model_weights. Keras reads these files the
// same way (load_weights_from_hdf5_group_by_name).

import { WeightsError } from '../errors.js';
import { groupByLayer, splitWeightName, type SourceLayer, type SourceTensor } from './source-weights.js';

type H5 = typeof import('h5wasm');
type Group = InstanceType<H5['Group']>;

let nextMountId = 0;

/** The layers of Keras weights file `file`, whose bytes are `bytes` (read once by the caller, who also hashes them). */
export async function readKerasH5(file: string, bytes: Uint8Array): Promise<SourceLayer[]> {
  // Loaded on first use: runs without --weights never start the HDF5 wasm module.
  const h5 = await import('h5wasm');
  const module = await h5.ready;
  // h5wasm's ESM build opens files from its in-memory file system.
  const mounted = `/emotrain-weights-${process.pid}-${nextMountId++}.h5`;
  module.FS.writeFile(mounted, bytes);
  // HDF5 errors become exceptions carrying HDF5's own error stack, instead of being printed to stderr.
  module.activate_throwing_error_handler();
  let opened: InstanceType<H5['File']> | undefined;
  try {
    opened = new h5.File(mounted, 'r');
    return readLayers(h5, file, weightsRoot(h5, file, opened));
  } catch (error) {
    if (error instanceof WeightsError) throw error;
    throw unreadable(file, error);
  } finally {
    try {
      opened?.close();
    } finally {
      module.deactivate_throwing_error_handler();
      module.FS.unlink(mounted);
    }
  }
}

/** Turns HDF5's error stack into one sentence naming the file; a truncated file says both sizes. */
export function unreadable(file: string, error: unknown): WeightsError {
  const text = error instanceof Error ? error.message : String(error);
  const truncated = /truncated file: eof = (\d+).*stored_eof = (\d+)/.exec(text);
  if (truncated) {
    return new WeightsError(
      'WEIGHTS_UNREADABLE',
      `${file} is truncated: it has ${truncated[1]} bytes, but its HDF5 superblock says the file is ${truncated[2]} bytes (an interrupted download or copy?)`,
      { cause: error },
    );
  }
  // The deepest entry of HDF5's stack ("#006: ... in H5G__cache_node_deserialize(): bad symbol table node signature") says what is wrong.
  const entries = [...text.matchAll(/#\d+: .* in (\w+)\(\): (.+)/g)];
  const deepest = entries.length > 0 ? entries[entries.length - 1]![2]!.trim() : text.trim();
  return new WeightsError('WEIGHTS_UNREADABLE', `${file} is not a readable HDF5 file: ${deepest}`, { cause: error });
}

function weightsRoot(h5: H5, file: string, root: Group): Group {
  if (hasList(root, 'layer_names')) return root;
  const modelWeights = root.get('model_weights');
  if (modelWeights instanceof h5.Group && hasList(modelWeights, 'layer_names')) return modelWeights;
  if (root.get('layers') instanceof h5.Group) {
    throw new WeightsError(
      'WEIGHTS_UNRECOGNIZED',
      `${file} is in the Keras 3 weights format (layers/<layer>/vars/<index>), which stores weights by position, not by name; ` +
        `save it with Keras 2 / tf.keras (model.save_weights('weights.h5')) or convert the model to TensorFlow.js`,
    );
  }
  throw new WeightsError(
    'WEIGHTS_UNRECOGNIZED',
    `${file} is an HDF5 file but not Keras weights: it has no layer_names attribute (Keras' save_weights writes one on the root, with a group per layer)`,
  );
}

function readLayers(h5: H5, file: string, root: Group): SourceLayer[] {
  const where = root.path === '/' ? '' : root.path;
  const entries: Array<{ layer: string; tensor: SourceTensor }> = [];
  for (const layerName of readList(root, 'layer_names', file)) {
    const group = root.get(layerName);
    if (!(group instanceof h5.Group)) {
      throw new WeightsError('WEIGHTS_UNREADABLE', `${file}: layer_names lists ${layerName}, but there is no group ${where}/${layerName}`);
    }
    if (!hasList(group, 'weight_names')) {
      throw new WeightsError('WEIGHTS_UNREADABLE', `${file}: layer group ${group.path} has no weight_names attribute`);
    }
    for (const weightName of readList(group, 'weight_names', file)) {
      const origin = `${group.path}/${weightName}`;
      const dataset = group.get(weightName);
      if (!(dataset instanceof h5.Dataset)) {
        throw new WeightsError('WEIGHTS_UNREADABLE', `${file}: ${group.path} lists weight ${weightName}, but there is no dataset ${origin}`);
      }
      const { layer, weight } = splitWeightName(weightName, layerName);
      entries.push({ layer, tensor: { name: weight, shape: dataset.shape ?? [], values: float32Values(file, origin, dataset), origin } });
    }
  }
  return groupByLayer(entries, file);
}

function float32Values(file: string, origin: string, dataset: InstanceType<H5['Dataset']>): Float32Array {
  const dtype = String(dataset.dtype);
  // Keras stores float32; a float64 file is cast as Keras' set_weights casts it.
  if (!/^[<>|]?[fd]$/.test(dtype)) {
    throw new WeightsError('WEIGHTS_UNREADABLE', `${file}: dataset ${origin} has dtype ${dtype}; only float32 (<f) and float64 (<d) weights can be read`);
  }
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new WeightsError('WEIGHTS_UNREADABLE', `${file}: dataset ${origin} did not read as a float array`);
}

/** Whether `group` has attribute `name`, whole or split into name0, name1, ... */
function hasList(group: Group, name: string): boolean {
  const attrs = Object.keys(group.attrs);
  return attrs.includes(name) || attrs.includes(`${name}0`);
}

/** A list-of-strings attribute, whole or split into chunks (hdf5_format.py load_attributes_from_hdf5_group). */
function readList(group: Group, name: string, file: string): string[] {
  const attrs = group.attrs;
  if (name in attrs) return stringsOf(attrs[name]!.value, `${group.path} attribute ${name}`, file);
  const values: string[] = [];
  for (let chunk = 0; `${name}${chunk}` in attrs; chunk++) values.push(...stringsOf(attrs[`${name}${chunk}`]!.value, `${group.path} attribute ${name}${chunk}`, file));
  return values;
}

function stringsOf(value: unknown, what: string, file: string): string[] {
  if (typeof value === 'string') return [value];
  // Keras writes an empty list (a layer without weights) as an empty float64 array.
  if (ArrayBuffer.isView(value) && (value as Float64Array).length === 0) return [];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  throw new WeightsError('WEIGHTS_UNREADABLE', `${file}: ${what} is not a list of names`);
}
