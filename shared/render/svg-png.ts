// SVG → PNG with resvg, text set in DejaVu Sans from the system's fonts-dejavu-core package, so a
// picture looks the same on every machine (no dependence on whatever fonts happen to be installed).

import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import { ConfigError } from '../errors.js';

export const FONT_FAMILY = 'DejaVu Sans';
export const FONT_FILE = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

export function svgToPng(svg: string): Buffer {
  if (!existsSync(FONT_FILE)) {
    throw new ConfigError('CONFIG_INVALID', `the font ${FONT_FILE} is missing: install the fonts-dejavu-core package to draw pictures with labels`);
  }
  const resvg = new Resvg(svg, { font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY } });
  return resvg.render().asPng();
}
