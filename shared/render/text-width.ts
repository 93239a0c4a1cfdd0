// How wide a line of text is drawn, for laying out pictures before Vega draws them.

/**
 * Width of a line of text, as Vega estimates it when it has no canvas to measure with (0.8 em per
 * character: wider than DejaVu Sans' characters on average, though m, W and % are wider), so that
 * a box this wide holds the drawn text of ordinary labels and captions (layouts of grids and charts use it).
 */
export function textWidth(text: string, fontPx: number): number {
  return Math.ceil(0.8 * text.length * fontPx);
}
