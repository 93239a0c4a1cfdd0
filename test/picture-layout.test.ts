// Pictures that read at their smallest sizes (issue 15, point 5 / acceptance d): the dataset
// preview at 16 px and the report's charts are laid out by Vega, and this walks the laid-out
// scenegraph and measures every text item's box — Vega's own bounds, estimated at 0.8 em per
// character (wider than DejaVu Sans draws) — to check that no two labels overlap, that no label
// covers a picture, and that everything lies inside the picture.

import { compile, type TopLevelSpec } from 'vega-lite';
import * as vega from 'vega';
import { describe, expect, it } from 'vitest';
import { confusionHeatmapSpec, trainingCurvesSpec, type CurvePoint } from '../evaluate/charts.js';
import { rowNormalised } from '../evaluate/confusion.js';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { encodePng } from '../shared/image/png.js';
import { imageGridSpec, MIN_TILE_PX } from '../shared/render/image-grid.js';
import { FONT_FAMILY } from '../shared/render/svg-png.js';

interface Box {
  kind: string;
  text: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

interface SceneNode {
  marktype?: string;
  items?: SceneNode[];
  x?: number;
  y?: number;
  text?: unknown;
  bounds?: { x1: number; y1: number; x2: number; y2: number };
}

/** Every drawn text and image of a Vega spec, in the picture's coordinates, and the picture's size. */
async function layout(spec: vega.Spec): Promise<{ boxes: Box[]; width: number; height: number }> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  await view.runAsync();
  const boxes: Box[] = [];
  const walk = (node: SceneNode, kind: string | undefined, dx: number, dy: number) => {
    if (node.marktype !== undefined) {
      for (const item of node.items ?? []) walk(item, node.marktype, dx, dy);
      return;
    }
    if ((kind === 'text' || kind === 'image') && node.bounds) {
      const text = Array.isArray(node.text) ? node.text.join(' / ') : String(node.text ?? '');
      if (kind === 'image' || text !== '') boxes.push({ kind, text, x1: node.bounds.x1 + dx, y1: node.bounds.y1 + dy, x2: node.bounds.x2 + dx, y2: node.bounds.y2 + dy });
    }
    // a group's children are placed relative to it
    const inner = kind === 'group' || kind === undefined ? [dx + (node.x ?? 0), dy + (node.y ?? 0)] : [dx, dy];
    for (const child of node.items ?? []) walk(child, undefined, inner[0]!, inner[1]!);
  };
  const padding = spec.padding as number | { left: number; right: number; top: number; bottom: number } | undefined;
  const pad = typeof padding === 'number' ? { left: padding, right: padding, top: padding, bottom: padding } : padding ?? { left: 0, right: 0, top: 0, bottom: 0 };
  // the scene is drawn inside the padding
  walk((view.scenegraph() as unknown as { root: SceneNode }).root, undefined, pad.left, pad.top);
  const width = view.width() + pad.left + pad.right;
  const height = view.height() + pad.top + pad.bottom;
  view.finalize();
  return { boxes, width, height };
}

function overlaps(a: Box, b: Box): boolean {
  return a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
}

/** Pairs of boxes that overlap, where at least one is text (pictures may touch one another). */
function collisions(boxes: readonly Box[]): string[] {
  const found: string[] = [];
  boxes.forEach((a, i) =>
    boxes.slice(i + 1).forEach((b) => {
      if ((a.kind === 'text' || b.kind === 'text') && overlaps(a, b)) found.push(`${a.kind} "${a.text}" meets ${b.kind} "${b.text}"`);
    }),
  );
  return found;
}

function outside(boxes: readonly Box[], width: number, height: number): string[] {
  return boxes.filter((b) => b.x1 < -0.5 || b.y1 < -0.5 || b.x2 > width + 0.5 || b.y2 > height + 0.5).map((b) => `${b.kind} "${b.text}" [${b.x1}, ${b.y1}, ${b.x2}, ${b.y2}] outside ${width}x${height}`);
}

function vegaOf(spec: TopLevelSpec): vega.Spec {
  return compile({ ...spec, config: { ...spec.config, font: FONT_FAMILY } } as TopLevelSpec).spec;
}

describe('pictures at their smallest sizes', () => {
  it('a dataset preview of 16 px samples: tiles drawn at a legible size, no caption meets another or a picture', async () => {
    const png = encodePng({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(128) });
    // the longest label and captions a preview can have
    const tiles = Array.from({ length: 9 }, (_, i) => ({ png, label: i % 2 ? 'surprise' : 'disgust', caption: ['flipped, -180°, zoom 0.80', 'shift -10%, -10%'] }));
    const spec = imageGridSpec(tiles, { columns: 3, tileSize: 16, title: 'a-dataset-with-a-long-name (image-folders): 9 training samples, augmented as in epoch 1 with seed 42' });
    const { boxes, width, height } = await layout(spec);
    const images = boxes.filter((b) => b.kind === 'image');
    expect(images).toHaveLength(9);
    for (const image of images) expect(image.x2 - image.x1).toBe(MIN_TILE_PX);
    expect(boxes.filter((b) => b.kind === 'text')).toHaveLength(1 + 9 * 2);
    expect(collisions(boxes)).toEqual([]);
    expect(outside(boxes, width, height)).toEqual([]);
  });

  it('the training curves, with LR reductions close together and at the last epoch: no label meets another or the legend', async () => {
    const points: CurvePoint[] = Array.from({ length: 12 }, (_, i) => ({ epoch: i + 1, train: 0.3 + i * 0.05, val: 0.25 + i * 0.04 }));
    const reductions = [2, 3, 4, 11, 12].map((epoch, i) => ({ epoch, from: 10 ** -(3 + i), to: 10 ** -(4 + i) }));
    for (const metric of ['accuracy', 'loss'] as const) {
      const spec = vegaOf(trainingCurvesSpec(metric, points, reductions));
      const { boxes, width, height } = await layout(spec);
      const lrLabels = boxes.filter((b) => b.text.startsWith('LR →'));
      expect(lrLabels).toHaveLength(5);
      expect(boxes.some((b) => b.text === 'train') && boxes.some((b) => b.text === 'val')).toBe(true); // the legend
      expect(collisions(boxes)).toEqual([]);
      expect(outside(boxes, width, height)).toEqual([]);
    }
  });

  it('the confusion heatmaps, counts and row shares: no number or class name meets another', async () => {
    const matrix = EMOTION_CLASSES.map((_, t) => EMOTION_CLASSES.map((_, p) => (t === p ? 12_345 : 1_234)));
    for (const [values, m] of [['counts', matrix], ['normalized', rowNormalised(matrix)]] as const) {
      const { boxes, width, height } = await layout(vegaOf(confusionHeatmapSpec(m, EMOTION_CLASSES, values, `test (${values})`)));
      expect(boxes.filter((b) => b.kind === 'text').length).toBeGreaterThan(49 + 14);
      expect(collisions(boxes)).toEqual([]);
      expect(outside(boxes, width, height)).toEqual([]);
    }
  });
});
