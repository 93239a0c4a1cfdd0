// The annotated copy of a photo (the study's Figure 6): each face's box and a tag with its label
// and confidence. Legible at any photo size: the copy is drawn at least MIN_SIDE pixels on its
// shorter side (a 40-pixel face crop is enlarged) and at most MAX_SIDE on its longer side, and
// lines and text are sized from the copy's shorter side. Boxes and tags are SVG rendered by resvg
// with DejaVu Sans (shared/render), laid over the pixels, and the copy is a JPEG.

import type { RgbImage } from '../../shared/image/decode.js';
import { encodeJpeg } from '../../shared/image/jpeg-encode.js';
import { FONT_FAMILY, svgToRgba } from '../../shared/render/svg-png.js';
import type { FaceBox } from '../detect/face-box.js';
import { resizeRgb } from '../image/resize-rgb.js';
import { escapeMarkup } from '../../shared/render/escape-markup.js';

export interface FaceTag {
  box: FaceBox;
  /** The first line of the tag, e.g. "happy 81%". */
  text: string;
  /** Box and tag colour, CSS. */
  colour: string;
}

export interface AnnotatedPhoto {
  width: number;
  height: number;
  jpeg: Uint8Array;
}

const MIN_SIDE = 480;
const MAX_SIDE = 2560;
/** Tag text height as a share of the copy's shorter side, and its floor in pixels. */
const TEXT_SHARE = 0.045;
const MIN_TEXT_PX = 14;
/** DejaVu Sans' mean advance width in ems, for sizing a tag before it is drawn. */
const MEAN_ADVANCE_EM = 0.62;

export function annotatePhoto(photo: RgbImage, tags: readonly FaceTag[]): AnnotatedPhoto {
  const copy = annotatedPixels(photo, tags);
  return { width: copy.width, height: copy.height, jpeg: encodeJpeg(copy.data, copy.width, copy.height, 90) };
}

/** The annotated copy's pixels (annotatePhoto encodes them). */
export function annotatedPixels(photo: RgbImage, tags: readonly FaceTag[]): RgbImage {
  const scale = copyScale(photo.width, photo.height);
  const width = Math.max(1, Math.round(photo.width * scale));
  const height = Math.max(1, Math.round(photo.height * scale));
  const copy = resizeRgb(photo, width, height);
  const pixels = copy === photo ? Uint8Array.from(photo.data) : copy.data;
  if (tags.length > 0) {
    const overlay = svgToRgba(overlaySvg(tags, scale, width, height), 'the face boxes of an annotated photo');
    composite(pixels, overlay.rgba);
  }
  return { width, height, data: pixels };
}

/** How much the copy is enlarged or shrunk from the photo. */
export function copyScale(width: number, height: number): number {
  const up = MIN_SIDE / Math.min(width, height);
  const down = MAX_SIDE / Math.max(width, height);
  return Math.min(Math.max(1, up), down);
}

/** The SVG of the boxes and tags over a width x height copy (photo pixels times `scale`). */
export function overlaySvg(tags: readonly FaceTag[], scale: number, width: number, height: number): string {
  const shorter = Math.min(width, height);
  const fontPx = Math.max(MIN_TEXT_PX, Math.round(shorter * TEXT_SHARE));
  const line = Math.max(2, Math.round(shorter / 160));
  const padding = Math.round(fontPx * 0.3);
  const tagHeight = Math.round(fontPx * 1.3);
  const shapes = tags.map(({ box, text, colour }) => {
    const x = box.x * scale;
    const y = box.y * scale;
    const w = box.width * scale;
    const h = box.height * scale;
    const tagWidth = Math.min(width, Math.ceil(text.length * fontPx * MEAN_ADVANCE_EM) + 2 * padding);
    // Above the box where there is room, else just inside its top edge; never off the copy's sides.
    const tagX = Math.min(Math.max(0, x - line / 2), width - tagWidth);
    const tagY = y - tagHeight - line / 2 >= 0 ? y - tagHeight - line / 2 : Math.min(y + line / 2, height - tagHeight);
    const ink = textColourOn(colour);
    return [
      `<rect x="${f(x)}" y="${f(y)}" width="${f(w)}" height="${f(h)}" fill="none" stroke="${colour}" stroke-width="${line}"/>`,
      `<rect x="${f(tagX)}" y="${f(tagY)}" width="${tagWidth}" height="${tagHeight}" fill="${colour}"/>`,
      `<text x="${f(tagX + padding)}" y="${f(tagY + tagHeight / 2)}" font-family="${FONT_FAMILY}" font-size="${fontPx}" dominant-baseline="central" fill="${ink}">${escapeMarkup(text)}</text>`,
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${shapes.join('')}</svg>`;
}

/** Lays premultiplied RGBA over RGB in place. */
function composite(rgb: Uint8Array, rgba: Uint8Array): void {
  for (let p = 0, q = 0; q < rgba.length; p += 3, q += 4) {
    const alpha = rgba[q + 3]!;
    if (alpha === 0) continue;
    const keep = (255 - alpha) / 255;
    rgb[p] = Math.round(rgba[q]! + rgb[p]! * keep);
    rgb[p + 1] = Math.round(rgba[q + 1]! + rgb[p + 1]! * keep);
    rgb[p + 2] = Math.round(rgba[q + 2]! + rgb[p + 2]! * keep);
  }
}

/** Black or white, whichever reads better on a #rrggbb colour (WCAG relative luminance). */
function textColourOn(colour: string): string {
  const channel = (i: number) => {
    const c = parseInt(colour.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
  return luminance > 0.4 ? '#000000' : '#ffffff';
}

function f(value: number): string {
  return value.toFixed(1);
}
