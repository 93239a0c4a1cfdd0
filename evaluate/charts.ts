// The Vega-Lite specs of the report's charts (issue 5, items 2 and 3): confusion-matrix heatmaps
// with class names and the numbers in the cells, and training curves (train vs val per epoch, LR
// reductions marked). Specs only — chart-renderer.ts turns them into PNGs. Every chart has a fixed
// size (autosize none, explicit padding), so its PNG's size is known in advance.

import type { TopLevelSpec } from 'vega-lite';
import { textWidth } from '../shared/render/text-width.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Device pixels per CSS pixel of the report's charts (sharp on high-density screens). */
export const CHART_SCALE = 2;

export const HEATMAP_LAYOUT = {
  cellPx: 56,
  padding: { left: 104, right: 124, top: 36, bottom: 96 },
} as const;

export interface ChartGeometry {
  /** CSS pixels of the whole chart (PNG pixels = these x scale). */
  width: number;
  height: number;
}

export interface HeatmapGeometry extends ChartGeometry {
  /** Top-left corner of the cell grid. */
  gridLeft: number;
  gridTop: number;
  cellPx: number;
}

export function heatmapGeometry(classCount: number): HeatmapGeometry {
  const { cellPx, padding } = HEATMAP_LAYOUT;
  const side = classCount * cellPx;
  return { width: padding.left + side + padding.right, height: padding.top + side + padding.bottom, gridLeft: padding.left, gridTop: padding.top, cellPx };
}

export type HeatmapValues = 'counts' | 'normalized';

/**
 * A heatmap of `matrix` (rows: true class, columns: predicted class), coloured by value from light
 * to dark blue, with each value written in its cell: counts as integers, row shares with 2 decimals.
 */
export function confusionHeatmapSpec(matrix: readonly (readonly number[])[], classes: readonly string[], values: HeatmapValues, title: string): TopLevelSpec {
  const cells = matrix.flatMap((row, t) =>
    row.map((value, p) => ({ true: classes[t]!, predicted: classes[p]!, value, label: values === 'counts' ? String(value) : value.toFixed(2) })),
  );
  const max = values === 'counts' ? Math.max(1, ...cells.map((c) => c.value)) : 1;
  const { cellPx, padding } = HEATMAP_LAYOUT;
  const side = classes.length * cellPx;
  const band = { paddingInner: 0, paddingOuter: 0 };
  return {
    $schema: SCHEMA,
    width: side,
    height: side,
    autosize: { type: 'none' },
    padding,
    background: 'white',
    title: { text: title, anchor: 'start', frame: 'group', fontSize: 13, offset: 10 },
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: [...classes], scale: band, title: 'predicted', axis: { labelAngle: -50, labelFontSize: 11, titleFontSize: 12 } },
      y: { field: 'true', type: 'nominal', sort: [...classes], scale: band, title: 'true', axis: { labelFontSize: 11, titleFontSize: 12 } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'value',
            type: 'quantitative',
            // From near-white (nothing) to dark blue: darker always means more.
            scale: { domain: [0, max], range: ['#f7fbff', '#08519c'] },
            title: values === 'counts' ? 'samples' : 'share of row',
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 12 },
        encoding: {
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: `datum.value > ${max / 2}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

export const CURVES_LAYOUT = {
  width: 480,
  height: 260,
  padding: { left: 64, right: 92, top: 40, bottom: 48 },
} as const;

export function trainingCurvesGeometry(): ChartGeometry {
  const { width, height, padding } = CURVES_LAYOUT;
  return { width: padding.left + width + padding.right, height: padding.top + height + padding.bottom };
}

export interface CurvePoint {
  epoch: number;
  train: number;
  val: number;
}

export interface LrReduction {
  /** The epoch after which the learning rate was reduced. */
  epoch: number;
  from: number;
  to: number;
}

/** `metric` per epoch, train and val, with a dashed line at each LR reduction. */
export function trainingCurvesSpec(metric: 'accuracy' | 'loss', points: readonly CurvePoint[], reductions: readonly LrReduction[]): TopLevelSpec {
  const series = points.flatMap((p) =>
    (['train', 'val'] as const).filter((split) => Number.isFinite(p[split])).map((split) => ({ epoch: p.epoch, split, value: p[split] })),
  );
  const lastEpoch = Math.max(2, ...points.map((p) => p.epoch));
  const { width, height, padding } = CURVES_LAYOUT;
  const marks = placeLrLabels(reductions, lastEpoch, width);
  return {
    $schema: SCHEMA,
    width,
    height,
    autosize: { type: 'none' },
    padding,
    background: 'white',
    title: { text: `${metric === 'accuracy' ? 'Accuracy' : 'Loss'} per epoch${marks.length > 0 ? ' (dashed: learning rate reduced)' : ''}`, anchor: 'start', frame: 'group', fontSize: 13, offset: 12 },
    // Every layer shares the epoch axis.
    encoding: { x: { field: 'epoch', type: 'quantitative', scale: { domain: [1, lastEpoch], nice: false }, axis: { format: 'd', tickMinStep: 1, title: 'epoch' } } },
    layer: [
      {
        data: { values: series },
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          y: { field: 'value', type: 'quantitative', title: metric, scale: metric === 'accuracy' ? { domain: [0, 1] } : { zero: false } },
          color: { field: 'split', type: 'nominal', scale: { domain: ['train', 'val'], range: ['#1f77b4', '#ff7f0e'] }, title: null },
        },
      },
      { data: { values: marks }, mark: { type: 'rule', color: '#777', strokeDash: [5, 4] } },
      // Right of its line in the plot's left half, left of it in the right half, so that a label
      // never leaves the plot for the legend; labels that would meet go one row down.
      ...(['left', 'right'] as const).map((side) => ({
        data: { values: marks.filter((m) => m.side === side) },
        mark: { type: 'text' as const, align: side, baseline: 'top' as const, dx: side === 'left' ? LR_LABEL_DX : -LR_LABEL_DX, fontSize: LR_LABEL_FONT_PX, color: '#555' },
        encoding: { text: { field: 'label', type: 'nominal' as const }, y: { field: 'y', type: 'quantitative' as const, scale: null } },
      })),
    ],
  };
}

const LR_LABEL_FONT_PX = 10;
const LR_LABEL_DX = 3;
const LR_LABEL_ROW_PX = 13;

interface PlacedLrLabel {
  epoch: number;
  label: string;
  side: 'left' | 'right';
  /** Pixels from the plot's top. */
  y: number;
}

/**
 * Where each LR reduction's label goes: beside its dashed line, on the side with room, in the
 * first row where it meets no other label (widths as Vega estimates them: textWidth).
 */
export function placeLrLabels(reductions: readonly LrReduction[], lastEpoch: number, plotWidth: number): PlacedLrLabel[] {
  const rows: Array<Array<[number, number]>> = [];
  return [...reductions]
    .sort((a, b) => a.epoch - b.epoch)
    .map((r) => {
      const label = `LR → ${r.to.toExponential(0)}`;
      const x = ((r.epoch - 1) / (lastEpoch - 1)) * plotWidth;
      const side = x <= plotWidth / 2 ? ('left' as const) : ('right' as const);
      const extent = textWidth(label, LR_LABEL_FONT_PX) + LR_LABEL_DX;
      const span: [number, number] = side === 'left' ? [x, x + extent] : [x - extent, x];
      let row = rows.findIndex((taken) => taken.every(([a, b]) => span[1] + 2 < a || span[0] > b + 2));
      if (row < 0) row = rows.push([]) - 1;
      rows[row]!.push(span);
      return { epoch: r.epoch, label, side, y: 3 + row * LR_LABEL_ROW_PX };
    });
}
