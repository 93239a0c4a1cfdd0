// Vega-Lite spec → PNG on the server, with no browser (issue 5): vega-lite compiles the spec to
// Vega, and shared/render draws it (headless vega View → SVG → resvg, text in DejaVu Sans).

import { compile, type TopLevelSpec } from 'vega-lite';
import { describeError, ReportError } from '../shared/errors.js';
import { FONT_FAMILY, renderVega, type RenderedPicture } from '../shared/render/svg-png.js';

export type RenderedChart = RenderedPicture;

/**
 * Renders a Vega-Lite spec to PNG at `scale` device pixels per CSS pixel (width and height are
 * the spec's size plus its padding, times `scale`). `name` says which chart failed in an error.
 * Text uses DejaVu Sans whatever the spec says.
 */
export async function renderChart(name: string, spec: TopLevelSpec, scale = 1): Promise<RenderedChart> {
  let compiled;
  try {
    compiled = compile({ ...spec, config: { ...spec.config, font: FONT_FAMILY } } as TopLevelSpec).spec;
  } catch (cause) {
    throw new ReportError('REPORT_RENDER_FAILED', `cannot compile the chart ${name}: ${describeError(cause)}`, { cause });
  }
  return renderVega(compiled, `the chart ${name}`, scale);
}
