// `emotrain dataset preview`: augmented training samples exactly as a run's first epoch (or any
// epoch) feeds them to the model — the same draw from (seed, epoch, sample id), the same fused warp
// — as labelled tiles for a person to look at.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EMOTION_CLASSES } from '../classes.js';
import { drawAugmentation, STUDY_AUGMENTATION, type AugmentationSettings } from '../image/augmentation.js';
import { inputLength, writeModelInputs } from '../image/model-input.js';
import { encodePng } from '../image/png.js';
import { deriveSeed, SeededRandom } from '../random.js';
import type { GridTile } from '../render/image-grid.js';
import type { DatasetIndex } from './sample.js';

export interface PreviewOptions {
  count: number;
  /** Run seed: which samples are shown and how they are augmented. */
  seed: number;
  imageSize: number;
  epoch: number;
  /** The knobs (default: the study's). */
  augmentation?: AugmentationSettings;
}

/** `count` training samples, picked by the seed, augmented as in `epoch`, as picture tiles. */
export async function previewTiles(index: DatasetIndex, trainIds: readonly number[], options: PreviewOptions): Promise<GridTile[]> {
  const ids = new SeededRandom(deriveSeed(options.seed, 0x9e7)).shuffle([...trainIds]).slice(0, options.count);
  const floats = new Float32Array(inputLength(options.imageSize));
  const tiles: GridTile[] = [];
  for (const id of ids) {
    const sample = index.samples[id]!;
    const bytes = sample.pixels ? encodePng(sample.pixels) : await fs.readFile(path.join(index.root, sample.path));
    const augmentation = options.augmentation ?? STUDY_AUGMENTATION;
    const spec = { imageSize: options.imageSize, preprocessing: 'unit' as const, seed: options.seed, augment: true, augmentation };
    writeModelInputs([{ id, bytes, where: sample.path }], options.epoch, spec, floats);
    const rgb = Uint8Array.from(floats, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    const a = drawAugmentation(options.seed, options.epoch, id, augmentation);
    const caption = [`${a.flip ? 'flipped, ' : ''}${((a.angle * 180) / Math.PI).toFixed(0)}°, zoom ${a.zoom.toFixed(2)}`];
    if (a.shiftX !== undefined) caption.push(`shift ${(a.shiftX * 100).toFixed(0)}%, ${(a.shiftY! * 100).toFixed(0)}%`);
    tiles.push({ png: encodePng({ width: options.imageSize, height: options.imageSize, data: rgb }), label: EMOTION_CLASSES[sample.label]!, caption });
  }
  return tiles;
}
