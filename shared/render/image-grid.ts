// A grid of labelled pictures (a Vega spec → SVG → PNG): `emotrain dataset preview` shows
// augmented training samples this way. Each tile is a PNG embedded as a data URL, its label and
// an optional caption under it. Pictures smaller than a legible minimum are drawn larger (asking
// for sharp pixels), and every cell is as wide as its widest text, so labels never run into each other
// whatever the image size.

import type * as vega from 'vega';
import { FONT_FAMILY, renderVega } from './svg-png.js';
import { textWidth } from './text-width.js';

export interface GridTile {
  /** PNG bytes of the picture. */
  png: Uint8Array;
  label: string;
  /** Lines under the label. */
  caption?: readonly string[];
}

export interface GridOptions {
  columns: number;
  /** Side of each picture in pixels (drawn at MIN_TILE_PX at least). */
  tileSize: number;
  title: string;
}

const GAP = 12;
const TITLE_HEIGHT = 28;
const TITLE_FONT_PX = 15;
const LABEL_FONT_PX = 14;
const CAPTION_FONT_PX = 11;
const LINE_GAP = 3;
/** Pictures are drawn at least this large: a 16 or 48 px face is unreadable at its own size. */
export const MIN_TILE_PX = 96;

/** The Vega specification of the grid (exported for tests and for anyone who wants the SVG). */
export function imageGridSpec(tiles: readonly GridTile[], options: GridOptions): vega.Spec {
  const side = Math.max(options.tileSize, MIN_TILE_PX);
  const captionLines = Math.max(0, ...tiles.map((t) => t.caption?.length ?? 0));
  const textHeight = 4 + LABEL_FONT_PX + LINE_GAP + captionLines * (CAPTION_FONT_PX + LINE_GAP);
  const widest = Math.max(side, ...tiles.flatMap((t) => [textWidth(t.label, LABEL_FONT_PX), ...(t.caption ?? []).map((line) => textWidth(line, CAPTION_FONT_PX))]));
  const rows = Math.ceil(tiles.length / options.columns);
  const cellWidth = widest + GAP;
  const cellHeight = side + textHeight + GAP;
  const gridWidth = options.columns * cellWidth - GAP;
  const width = Math.max(gridWidth, textWidth(options.title, TITLE_FONT_PX));
  const values = tiles.map((tile, i) => ({
    url: `data:image/png;base64,${Buffer.from(tile.png).toString('base64')}`,
    label: tile.label,
    caption: [...(tile.caption ?? [])],
    // the centre of its cell, horizontally
    cx: (width - gridWidth) / 2 + (i % options.columns) * cellWidth + widest / 2,
    y: TITLE_HEIGHT + Math.floor(i / options.columns) * cellHeight,
  }));
  const text = { font: { value: FONT_FAMILY }, align: { value: 'center' as const }, baseline: { value: 'top' as const }, fill: { value: '#222' } };
  return {
    width,
    height: TITLE_HEIGHT + rows * cellHeight - GAP,
    padding: GAP,
    background: 'white',
    data: [{ name: 'tiles', values }],
    marks: [
      {
        type: 'text',
        encode: { enter: { ...text, x: { value: width / 2 }, y: { value: 0 }, text: { value: options.title }, fontSize: { value: TITLE_FONT_PX }, fontWeight: { value: 'bold' } } },
      },
      {
        type: 'image',
        from: { data: 'tiles' },
        encode: {
          enter: {
            url: { field: 'url' },
            x: { signal: `datum.cx - ${side / 2}` },
            y: { field: 'y' },
            width: { value: side },
            height: { value: side },
            aspect: { value: false },
            // nearest-neighbour where the renderer honours it: the picture is what the model is fed
            smooth: { value: false },
            align: { value: 'left' },
            baseline: { value: 'top' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'tiles' },
        encode: { enter: { ...text, x: { field: 'cx' }, y: { signal: `datum.y + ${side + 4}` }, text: { field: 'label' }, fontSize: { value: LABEL_FONT_PX } } },
      },
      {
        type: 'text',
        from: { data: 'tiles' },
        encode: {
          enter: {
            ...text,
            x: { field: 'cx' },
            y: { signal: `datum.y + ${side + 4 + LABEL_FONT_PX + LINE_GAP}` },
            text: { field: 'caption' },
            fontSize: { value: CAPTION_FONT_PX },
            lineHeight: { value: CAPTION_FONT_PX + LINE_GAP },
            fill: { value: '#666' },
          },
        },
      },
    ],
  };
}

export async function renderImageGrid(tiles: readonly GridTile[], options: GridOptions): Promise<Buffer> {
  return (await renderVega(imageGridSpec(tiles, options), `the image grid "${options.title}"`)).png;
}
