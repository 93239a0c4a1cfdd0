// Vega-Lite spec → PNG on the server, with no browser (issue 5): vega-lite compiles the spec, a
// headless vega View writes SVG, and resvg rasterises it. resvg draws text only with fonts it is
// given, so it gets DejaVu Sans (Debian's fonts-dejavu-core) and never the host's fonts: the same
// report renders the same on every machine, and a machine without the font is told so.

import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { describeError, ReportError } from '../shared/errors.js';

export const CHART_FONT_FAMILY = 'DejaVu Sans';

/** Where distributions put DejaVuSans.ttf: Debian/Ubuntu (fonts-dejavu-core), Fedora, Arch, Alpine. */
export const CHART_FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
] as const;

export function findChartFont(candidates: readonly string[] = CHART_FONT_CANDIDATES): string {
  const found = candidates.find((file) => existsSync(file));
  if (found === undefined) {
    throw new ReportError(
      'REPORT_RENDER_FAILED',
      `charts need the DejaVu Sans font and none of ${candidates.join(', ')} exists: install it (Debian/Ubuntu: apt-get install fonts-dejavu-core)`,
    );
  }
  return found;
}

export interface RenderedChart {
  png: Buffer;
  /** Pixels: the spec's width and height plus its padding, times `scale`. */
  width: number;
  height: number;
}

/**
 * Renders a Vega-Lite spec to PNG at `scale` device pixels per CSS pixel. `name` says which chart
 * failed in an error. Text uses CHART_FONT_FAMILY whatever the spec says.
 */
export async function renderChart(name: string, spec: TopLevelSpec, scale = 1): Promise<RenderedChart> {
  const fontFile = findChartFont();
  let svg: string;
  try {
    const withFont = { ...spec, config: { ...spec.config, font: CHART_FONT_FAMILY } } as TopLevelSpec;
    const view = new vega.View(vega.parse(compile(withFont).spec), { renderer: 'none' });
    try {
      svg = await view.toSVG();
    } finally {
      view.finalize();
    }
  } catch (cause) {
    throw new ReportError('REPORT_RENDER_FAILED', `cannot draw the chart ${name}: ${describeError(cause)}`, { cause });
  }
  try {
    const rendered = new Resvg(svg, {
      font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: CHART_FONT_FAMILY, sansSerifFamily: CHART_FONT_FAMILY },
      fitTo: { mode: 'zoom', value: scale },
      background: 'white',
    }).render();
    return { png: rendered.asPng(), width: rendered.width, height: rendered.height };
  } catch (cause) {
    throw new ReportError('REPORT_RENDER_FAILED', `cannot rasterise the chart ${name}: ${describeError(cause)}`, { cause });
  }
}
