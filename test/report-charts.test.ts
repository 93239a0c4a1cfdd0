// Issue 5, acceptance c: the report's PNGs decode, have the sizes their layouts promise, and the
// confusion heatmap's cells get darker as their counts grow. Charts render server-side (Vega-Lite →
// SVG → resvg) with the DejaVu Sans font, so this also checks that text is drawn on this machine.

import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { renderChart } from '../evaluate/chart-renderer.js';
import { CHART_SCALE, confusionHeatmapSpec, heatmapGeometry, trainingCurvesGeometry, trainingCurvesSpec } from '../evaluate/charts.js';
import { rowNormalised } from '../evaluate/confusion.js';
import { pngDataUrl } from '../evaluate/data-url.js';
import { predictionGridGeometry, predictionGridSpec, GRID_LAYOUT, type GridRow } from '../evaluate/prediction-grid.js';
import { EMOTION_CLASSES } from '../shared/classes.js';

function decode(png: Uint8Array): PNG {
  return PNG.sync.read(Buffer.from(png));
}

function pixel(image: PNG, x: number, y: number): [number, number, number] {
  const i = (Math.round(y) * image.width + Math.round(x)) * 4;
  return [image.data[i]!, image.data[i + 1]!, image.data[i + 2]!];
}

/** Relative luminance (0 black .. 1 white) of an sRGB colour, near enough for ordering. */
function luminance([r, g, b]: [number, number, number]): number {
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}

/** Whether a region holds dark (drawn) pixels, i.e. text was rendered there. */
function hasInk(image: PNG, x0: number, y0: number, x1: number, y1: number): boolean {
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (luminance(pixel(image, x, y)) < 0.5) return true;
  return false;
}

// Distinct counts on the diagonal, growing down the rows; zeros elsewhere.
const DIAGONAL_COUNTS = [0, 1, 3, 7, 15, 40, 90];
const MATRIX = DIAGONAL_COUNTS.map((count, t) => DIAGONAL_COUNTS.map((_, p) => (t === p ? count : 0)));

describe('the confusion heatmap', () => {
  it('decodes at its layout size times the chart scale', async () => {
    const chart = await renderChart('heatmap', confusionHeatmapSpec(MATRIX, EMOTION_CLASSES, 'counts', 'counts'), CHART_SCALE);
    const geometry = heatmapGeometry(EMOTION_CLASSES.length);
    const image = decode(chart.png);
    expect([image.width, image.height]).toEqual([geometry.width * CHART_SCALE, geometry.height * CHART_SCALE]);
    expect([chart.width, chart.height]).toEqual([image.width, image.height]);
  });

  it('colours cells darker as their counts grow, and writes the numbers and class names', async () => {
    const chart = await renderChart('heatmap', confusionHeatmapSpec(MATRIX, EMOTION_CLASSES, 'counts', 'counts'), 1);
    const image = decode(chart.png);
    const { gridLeft, gridTop, cellPx } = heatmapGeometry(EMOTION_CLASSES.length);
    // A corner of each diagonal cell, clear of the number written in its middle.
    const cellColour = (row: number, col: number) => pixel(image, gridLeft + col * cellPx + 5, gridTop + row * cellPx + 5);
    const lightness = DIAGONAL_COUNTS.map((_, c) => luminance(cellColour(c, c)));
    for (let c = 1; c < lightness.length; c++) expect(lightness[c], `count ${DIAGONAL_COUNTS[c]} vs ${DIAGONAL_COUNTS[c - 1]}`).toBeLessThan(lightness[c - 1]!);
    // Empty off-diagonal cells share the colour of the zero cell.
    expect(cellColour(3, 0)).toEqual(cellColour(0, 0));
    // The numbers: ink in the middle of a light cell (black text) and of the darkest (white text).
    const centre = (row: number, col: number) => [gridLeft + col * cellPx + cellPx / 2, gridTop + row * cellPx + cellPx / 2] as const;
    const [x3, y3] = centre(3, 3);
    expect(hasInk(image, x3 - 8, y3 - 6, x3 + 8, y3 + 6)).toBe(true);
    const [x6, y6] = centre(6, 6);
    const around = luminance(cellColour(6, 6));
    let lighterText = false;
    for (let y = y6 - 6; y < y6 + 6; y++) for (let x = x6 - 8; x < x6 + 8; x++) if (luminance(pixel(image, x, y)) > around + 0.3) lighterText = true;
    expect(lighterText).toBe(true);
    // Class names left of the rows.
    expect(hasInk(image, 10, gridTop, gridLeft - 8, gridTop + cellPx)).toBe(true);
  });

  it('colours the row-normalised matrix by share of the row', async () => {
    const shares = rowNormalised([
      [1, 3, 0, 0, 0, 0, 0],
      ...MATRIX.slice(1),
    ]);
    const chart = await renderChart('normalised', confusionHeatmapSpec(shares, EMOTION_CLASSES, 'normalized', 'shares'), 1);
    const image = decode(chart.png);
    const { gridLeft, gridTop, cellPx } = heatmapGeometry(EMOTION_CLASSES.length);
    const at = (row: number, col: number) => luminance(pixel(image, gridLeft + col * cellPx + 5, gridTop + row * cellPx + 5));
    expect(at(0, 1)).toBeLessThan(at(0, 0)); // 0.75 darker than 0.25
    expect(at(0, 0)).toBeLessThan(at(0, 2)); // 0.25 darker than 0
    expect(at(6, 6)).toBeCloseTo(at(5, 5), 5); // both rows are 100% correct
  });
});

describe('the training curves', () => {
  it('decode at their layout size, with the title drawn', async () => {
    const points = [1, 2, 3, 4, 5].map((epoch) => ({ epoch, train: 0.3 + 0.1 * epoch, val: 0.25 + 0.08 * epoch }));
    const chart = await renderChart('curves', trainingCurvesSpec('accuracy', points, [{ epoch: 3, from: 1e-3, to: 1e-4 }]), CHART_SCALE);
    const image = decode(chart.png);
    const geometry = trainingCurvesGeometry();
    expect([image.width, image.height]).toEqual([geometry.width * CHART_SCALE, geometry.height * CHART_SCALE]);
    expect(hasInk(image, 0, 0, image.width, 30 * CHART_SCALE)).toBe(true);
  });
});

describe('the prediction grid', () => {
  it('decodes at its layout size and shows each face at its tile', async () => {
    const face = new PNG({ width: 20, height: 20 });
    for (let i = 0; i < face.data.length; i += 4) face.data.set([200, 30, 40, 255], i);
    const imageUrl = pngDataUrl(PNG.sync.write(face));
    const rows: GridRow[] = EMOTION_CLASSES.map((label, c) => ({
      label,
      note: `${c} of 9 incorrect`,
      tiles: Array.from({ length: c % 3 }, () => ({ imageUrl, trueLabel: label, predictedLabel: 'sad', confidence: 0.5 })),
    }));
    const columns = 4;
    const chart = await renderChart('grid', predictionGridSpec('incorrect', rows, columns, 'incorrect'), 1);
    const image = decode(chart.png);
    const geometry = predictionGridGeometry(columns, EMOTION_CLASSES.length);
    expect([image.width, image.height]).toEqual([geometry.width, geometry.height]);
    // Row 1 (disgust) has one tile: its first thumbnail is the red face, its second slot is empty.
    const { margin, titleHeight, headerWidth, tileWidth, tileHeight } = GRID_LAYOUT;
    const tileCentre = (row: number, col: number) => [margin + headerWidth + col * tileWidth + tileWidth / 2, titleHeight + row * tileHeight + 40] as const;
    expect(pixel(image, ...tileCentre(1, 0))).toEqual([200, 30, 40]);
    expect(pixel(image, ...tileCentre(1, 1))).toEqual([255, 255, 255]);
    // Captions under the face.
    const [cx, cy] = tileCentre(1, 0);
    expect(hasInk(image, cx - 40, cy + 60, cx + 40, cy + 90)).toBe(true);
  });
});
