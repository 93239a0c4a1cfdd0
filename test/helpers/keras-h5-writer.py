#!/usr/bin/python3
"""Writes a Keras weights file exactly as Keras 2 / tf.keras save_weights writes one, with h5py as
Keras does (keras/saving/hdf5_format.py: save_weights_to_hdf5_group, save_attributes_to_hdf5_group),
for test/pretrained-weights.test.ts. Needs Debian's python3-h5py and python3-numpy.

The spec comes as JSON on stdin:
  out          the .h5 file to write
  values       a file that receives every weight's values (float32 little-endian, in manifest order),
               so the test knows what it must find in the model without reading the .h5 itself
  layers       "keras-resnet50-notop" (keras.applications.ResNet50(include_top=False), built here from
               Keras' resnet.py naming rules) or a list of {"name", "weights": [{"name", "shape"}]}
  seed         numpy seed of the random values
  scale        standard deviation of the random values (default 1)
  strings      "fixed" (numpy bytes arrays, as h5py 2 wrote keras.applications' files) or "vlen"
               (a list of bytes, which h5py 3 stores as variable-length strings, as tf.keras writes today)
  root         "" (save_weights) or "model_weights" (model.save puts the weights in that group)
  chunks       split layer_names into this many attributes layer_names0, layer_names1, ... as Keras
               does when the list passes HDF5's 64 KiB object header limit (0: one attribute)
  dtype        "float32" (Keras' own) or "float64"
  bare         write an HDF5 file with one dataset and no Keras attributes instead
The manifest goes to stdout as JSON: [{"layer", "weight", "shape", "offset"}], offset in values.
"""
import json
import sys

import h5py
import numpy as np


def keras_resnet50_notop():
    layers = []

    def conv(name, kernel, cin, cout):
        layers.append({'name': name, 'weights': [{'name': 'kernel', 'shape': [kernel, kernel, cin, cout]}, {'name': 'bias', 'shape': [cout]}]})

    def bn(name, channels):
        layers.append({'name': name, 'weights': [{'name': w, 'shape': [channels]} for w in ('gamma', 'beta', 'moving_mean', 'moving_variance')]})

    def weightless(name):
        layers.append({'name': name, 'weights': []})

    weightless('input_1')
    weightless('conv1_pad')
    conv('conv1_conv', 7, 3, 64)
    bn('conv1_bn', 64)
    weightless('conv1_relu')
    weightless('pool1_pad')
    weightless('pool1_pool')
    cin = 64
    for stage, filters, blocks in ((2, 64, 3), (3, 128, 4), (4, 256, 6), (5, 512, 3)):
        for block in range(1, blocks + 1):
            name = f'conv{stage}_block{block}'
            # resnet.py block1, listed in Keras' model.layers order (graph depth): the shortcut's
            # 0_conv and 0_bn sit between the main path's layers.
            conv(f'{name}_1_conv', 1, cin, filters)
            bn(f'{name}_1_bn', filters)
            weightless(f'{name}_1_relu')
            conv(f'{name}_2_conv', 3, filters, filters)
            bn(f'{name}_2_bn', filters)
            weightless(f'{name}_2_relu')
            if block == 1:
                conv(f'{name}_0_conv', 1, cin, 4 * filters)
            conv(f'{name}_3_conv', 1, filters, 4 * filters)
            if block == 1:
                bn(f'{name}_0_bn', 4 * filters)
            bn(f'{name}_3_bn', 4 * filters)
            weightless(f'{name}_add')
            weightless(f'{name}_out')
            cin = 4 * filters
    return layers


def names_attribute(names, strings):
    encoded = [n.encode('utf8') for n in names]
    if strings == 'fixed':
        # An empty list is an empty float64 array, as np.asarray([]) gives Keras.
        return np.array(encoded) if encoded else np.array([])
    return encoded if encoded else np.array([])


def main():
    spec = json.load(sys.stdin)
    if spec.get('bare'):
        with h5py.File(spec['out'], 'w') as f:
            f.create_dataset('data', data=np.arange(10, dtype='float32'))
        json.dump([], sys.stdout)
        return
    layers = keras_resnet50_notop() if spec['layers'] == 'keras-resnet50-notop' else spec['layers']
    strings = spec.get('strings', 'fixed')
    dtype = spec.get('dtype', 'float32')
    rng = np.random.default_rng(spec.get('seed', 1))
    scale = np.float32(spec.get('scale', 1))
    manifest = []
    offset = 0
    with h5py.File(spec['out'], 'w') as f, open(spec['values'], 'wb') as values:
        root = f.create_group(spec['root']) if spec.get('root') else f
        layer_names = [layer['name'] for layer in layers]
        chunks = spec.get('chunks', 0)
        if chunks > 1:
            for i, chunk in enumerate(np.array_split(np.array([n.encode('utf8') for n in layer_names]), chunks)):
                root.attrs[f'layer_names{i}'] = chunk
        else:
            root.attrs['layer_names'] = names_attribute(layer_names, strings)
        root.attrs['backend'] = b'tensorflow'
        root.attrs['keras_version'] = b'2.2.4'
        # Keras creates the layer groups in name order (hdf5_format.py: "to avoid prefix issues").
        for layer in sorted(layers, key=lambda x: x['name']):
            group = root.create_group(layer['name'])
            weight_names = [f"{layer['name']}/{w['name']}:0" for w in layer['weights']]
            group.attrs['weight_names'] = names_attribute(weight_names, strings)
            for weight, weight_name in zip(layer['weights'], weight_names):
                value = (rng.standard_normal(weight['shape'], dtype=np.float32) * scale).astype(dtype)
                dataset = group.create_dataset(weight_name, value.shape, dtype=value.dtype)
                dataset[:] = value
                stored = value.astype('<f4')
                values.write(stored.tobytes())
                manifest.append({'layer': layer['name'], 'weight': weight['name'], 'shape': weight['shape'], 'offset': offset})
                offset += stored.size
    json.dump(manifest, sys.stdout)


main()
