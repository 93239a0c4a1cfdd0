// Grids of correct and of incorrect predictions per class, like the study's Figure 5 (issue 5,
// item 4): one row per true class, each tile the face with its true label, predicted label and
// confidence. Which samples to show is a pure choice (the most confident ones, so the mistakes a
// model is surest of come first); the picture is a Vega-Lite spec of image and text marks placed
// on a fixed pixel layout, rendered like every other chart.

import type { TopLevelSpec } from 'vega-lite';

export interface PredictionExample {
  sampleId: number;
  trueClass: number;
  predictedClass: number;
  /** The predicted class's probability. */
  confidence: number;
}

export interface PredictionOutcomes {
  sampleIds: readonly number[];
  labels: ArrayLike<number>;
  predictions: ArrayLike<number>;
  /** sampleIds.length x classCount, row-major. */
  probabilities: ArrayLike<number>;
}

export type PredictionKind = 'correct' | 'incorrect';

/**
 * For each true class, its `perClass` most confident correct (or incorrect) predictions, ties
 * broken by sample id, and how many there were in all.
 */
export function selectPredictionExamples(
  outcomes: PredictionOutcomes,
  kind: PredictionKind,
  perClass: number,
  classCount: number,
): Array<{ examples: PredictionExample[]; total: number }> {
  const byClass = Array.from({ length: classCount }, () => [] as PredictionExample[]);
  outcomes.sampleIds.forEach((sampleId, i) => {
    const trueClass = outcomes.labels[i]!;
    const predictedClass = outcomes.predictions[i]!;
    if ((trueClass === predictedClass) !== (kind === 'correct')) return;
    byClass[trueClass]!.push({ sampleId, trueClass, predictedClass, confidence: outcomes.probabilities[i * classCount + predictedClass]! });
  });
  return byClass.map((examples) => ({
    examples: [...examples].sort((a, b) => b.confidence - a.confidence || a.sampleId - b.sampleId).slice(0, perClass),
    total: examples.length,
  }));
}

export const GRID_LAYOUT = {
  margin: 12,
  titleHeight: 34,
  headerWidth: 124,
  thumbPx: 96,
  tileWidth: 136,
  tileHeight: 136,
} as const;

export function predictionGridGeometry(columns: number, rows: number): { width: number; height: number } {
  const { margin, titleHeight, headerWidth, tileWidth, tileHeight } = GRID_LAYOUT;
  return { width: 2 * margin + headerWidth + columns * tileWidth, height: titleHeight + rows * tileHeight + margin };
}

export interface GridTile {
  /** A data: URL of the face image. */
  imageUrl: string;
  trueLabel: string;
  predictedLabel: string;
  confidence: number;
}

export interface GridRow {
  label: string;
  /** Under the label, e.g. "12 of 15 correct". */
  note: string;
  tiles: GridTile[];
}

type TextStyle = 'title' | 'label' | 'note' | 'caption' | 'predicted';

/** The look of each kind of text; vega-lite has no channel for alignment or weight, so a layer each. */
const TEXT_STYLES: Record<TextStyle, { fontSize: number; fontWeight: 'bold' | 'normal'; align: 'left' | 'center'; color: string }> = {
  title: { fontSize: 14, fontWeight: 'bold', align: 'left', color: '#000' },
  label: { fontSize: 13, fontWeight: 'bold', align: 'left', color: '#000' },
  note: { fontSize: 11, fontWeight: 'normal', align: 'left', color: '#555' },
  caption: { fontSize: 11, fontWeight: 'normal', align: 'center', color: '#000' },
  predicted: { fontSize: 11, fontWeight: 'normal', align: 'center', color: '#000' },
};

/** The grid: `columns` tiles per row (rows with fewer leave space; a row with none says so). */
export function predictionGridSpec(title: string, rows: readonly GridRow[], columns: number, kind: PredictionKind): TopLevelSpec {
  const { margin, titleHeight, headerWidth, thumbPx, tileWidth, tileHeight } = GRID_LAYOUT;
  const { width, height } = predictionGridGeometry(columns, rows.length);
  const images: Array<{ x: number; y: number; url: string }> = [];
  const texts: Record<TextStyle, Array<{ x: number; y: number; text: string }>> = {
    title: [{ x: margin, y: margin, text: title }],
    label: [],
    note: [],
    caption: [],
    predicted: [],
  };
  rows.forEach((row, r) => {
    const top = titleHeight + r * tileHeight;
    texts.label.push({ x: margin, y: top + thumbPx / 2 - 14, text: row.label });
    texts.note.push({ x: margin, y: top + thumbPx / 2 + 4, text: row.note });
    if (row.tiles.length === 0) texts.note.push({ x: margin + headerWidth, y: top + thumbPx / 2 - 6, text: `no ${kind} predictions` });
    row.tiles.slice(0, columns).forEach((tile, c) => {
      const centre = margin + headerWidth + c * tileWidth + tileWidth / 2;
      images.push({ x: centre - thumbPx / 2, y: top, url: tile.imageUrl });
      texts.caption.push({ x: centre, y: top + thumbPx + 3, text: `true: ${tile.trueLabel}` });
      texts.predicted.push({ x: centre, y: top + thumbPx + 17, text: `pred: ${tile.predictedLabel} ${tile.confidence.toFixed(2)}` });
    });
  });
  // Pixel positions (scale: null) on a canvas of exactly width x height.
  const position = { x: { field: 'x', type: 'quantitative', scale: null }, y: { field: 'y', type: 'quantitative', scale: null } } as const;
  const predictedColor = kind === 'correct' ? '#1a7f37' : '#c62828';
  const textLayers = (Object.keys(texts) as TextStyle[]).map((style) => ({
    data: { values: texts[style] },
    mark: { type: 'text' as const, baseline: 'top' as const, ...TEXT_STYLES[style], ...(style === 'predicted' ? { color: predictedColor } : {}) },
    encoding: { ...position, text: { field: 'text', type: 'nominal' as const } },
  }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width,
    height,
    autosize: { type: 'none' },
    padding: 0,
    background: 'white',
    config: { view: { stroke: null } },
    layer: [
      {
        data: { values: images },
        // aria off: its label would repeat each data URL in the SVG.
        mark: { type: 'image', width: thumbPx, height: thumbPx, align: 'left', baseline: 'top', aria: false },
        encoding: { ...position, url: { field: 'url', type: 'nominal' } },
      },
      ...textLayers,
    ],
  };
}
