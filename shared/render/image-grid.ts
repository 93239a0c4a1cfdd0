// A grid of labelled pictures (a Vega spec → SVG → PNG): `emotrain dataset preview` shows
// augmented training samples this way. Each tile is a PNG embedded as a data URL, its label and
// an optional caption under it.

import type * as vega from 'vega';
import { FONT_FAMILY, renderVega } from './svg-png.js';

export interface GridTile {
  /** PNG bytes of the picture. */
  png: Uint8Array;
  label: string;
  caption?: string;
}

export interface GridOptions {
  columns: number;
  /** Side of each picture in pixels. */
  tileSize: number;
  title: string;
}

const GAP = 12;
const TEXT_HEIGHT = 36;
const TITLE_HEIGHT = 28;

/** The Vega specification of the grid (exported for tests and for anyone who wants the SVG). */
export function imageGridSpec(tiles: readonly GridTile[], options: GridOptions): vega.Spec {
  const rows = Math.ceil(tiles.length / options.columns);
  const cellWidth = options.tileSize + GAP;
  const cellHeight = options.tileSize + TEXT_HEIGHT + GAP;
  const values = tiles.map((tile, i) => ({
    url: `data:image/png;base64,${Buffer.from(tile.png).toString('base64')}`,
    label: tile.label,
    caption: tile.caption ?? '',
    x: (i % options.columns) * cellWidth,
    y: TITLE_HEIGHT + Math.floor(i / options.columns) * cellHeight,
  }));
  const text = { font: { value: FONT_FAMILY }, align: { value: 'center' as const }, baseline: { value: 'top' as const }, fill: { value: '#222' } };
  return {
    width: options.columns * cellWidth - GAP,
    height: TITLE_HEIGHT + rows * cellHeight - GAP,
    padding: GAP,
    background: 'white',
    data: [{ name: 'tiles', values }],
    marks: [
      {
        type: 'text',
        encode: { enter: { ...text, x: { value: (options.columns * cellWidth - GAP) / 2 }, y: { value: 0 }, text: { value: options.title }, fontSize: { value: 15 }, fontWeight: { value: 'bold' } } },
      },
      {
        type: 'image',
        from: { data: 'tiles' },
        encode: {
          enter: {
            url: { field: 'url' },
            x: { field: 'x' },
            y: { field: 'y' },
            width: { value: options.tileSize },
            height: { value: options.tileSize },
            aspect: { value: false },
            align: { value: 'left' },
            baseline: { value: 'top' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'tiles' },
        encode: { enter: { ...text, x: { signal: `datum.x + ${options.tileSize / 2}` }, y: { signal: `datum.y + ${options.tileSize + 4}` }, text: { field: 'label' }, fontSize: { value: 14 } } },
      },
      {
        type: 'text',
        from: { data: 'tiles' },
        encode: { enter: { ...text, x: { signal: `datum.x + ${options.tileSize / 2}` }, y: { signal: `datum.y + ${options.tileSize + 21}` }, text: { field: 'caption' }, fontSize: { value: 11 }, fill: { value: '#666' } } },
      },
    ],
  };
}

export async function renderImageGrid(tiles: readonly GridTile[], options: GridOptions): Promise<Buffer> {
  return (await renderVega(imageGridSpec(tiles, options), `the image grid "${options.title}"`)).png;
}
