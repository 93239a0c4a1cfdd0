// Pictures without a browser: a Vega spec → SVG (a headless vega View) → PNG (resvg). resvg draws
// text only with the fonts it is given, so it always gets DejaVu Sans (Debian's fonts-dejavu-core)
// and never the host's other fonts: a picture renders the same on every machine, and a machine
// without the font is told what to install. Report charts and dataset previews both go through here.

import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { describeError, ReportError } from '../errors.js';

export const FONT_FAMILY = 'DejaVu Sans';

/** Where distributions put DejaVuSans.ttf: Debian/Ubuntu (fonts-dejavu-core), Fedora, Arch, Alpine. */
export const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
] as const;

export function findFont(candidates: readonly string[] = FONT_CANDIDATES): string {
  const found = candidates.find((file) => existsSync(file));
  if (found === undefined) {
    throw new ReportError(
      'REPORT_RENDER_FAILED',
      `pictures with text need the DejaVu Sans font and none of ${candidates.join(', ')} exists: install it (Debian/Ubuntu: apt-get install fonts-dejavu-core)`,
    );
  }
  return found;
}

export interface RenderedPicture {
  png: Buffer;
  width: number;
  height: number;
}

/** A Vega spec's SVG; `what` names the picture in errors. */
export async function vegaToSvg(spec: vega.Spec, what: string): Promise<string> {
  try {
    const view = new vega.View(vega.parse(spec), { renderer: 'none' });
    try {
      return await view.toSVG();
    } finally {
      view.finalize();
    }
  } catch (cause) {
    throw new ReportError('REPORT_RENDER_FAILED', `cannot draw ${what}: ${describeError(cause)}`, { cause });
  }
}

/** Rasterises SVG at `scale` device pixels per CSS pixel, on white. */
export function svgToPng(svg: string, what: string, scale = 1): RenderedPicture {
  const rendered = rasterise(svg, what, scale, 'white');
  return { png: rendered.asPng(), width: rendered.width, height: rendered.height };
}

export interface RgbaPixels {
  width: number;
  height: number;
  /** width * height * 4 bytes, RGBA with the colour premultiplied by alpha (as resvg renders). */
  rgba: Uint8Array;
}

/** Rasterises SVG at its own size on a transparent background: an overlay to lay over a photo. */
export function svgToRgba(svg: string, what: string): RgbaPixels {
  const rendered = rasterise(svg, what, 1, undefined);
  return { width: rendered.width, height: rendered.height, rgba: rendered.pixels };
}

function rasterise(svg: string, what: string, scale: number, background: string | undefined) {
  const fontFile = findFont();
  try {
    return new Resvg(svg, {
      font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
      fitTo: { mode: 'zoom', value: scale },
      ...(background !== undefined ? { background } : {}),
    }).render();
  } catch (cause) {
    throw new ReportError('REPORT_RENDER_FAILED', `cannot rasterise ${what}: ${describeError(cause)}`, { cause });
  }
}

/** A Vega spec straight to PNG. */
export async function renderVega(spec: vega.Spec, what: string, scale = 1): Promise<RenderedPicture> {
  return svgToPng(await vegaToSvg(spec, what), what, scale);
}
