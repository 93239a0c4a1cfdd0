// data: URLs, which keep report.html one self-contained file and put the faces into the grids.

import { detectImageFormat } from '../shared/image/decode.js';

export function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}

/** A dataset image (JPEG or PNG, the formats emotrain decodes) as a data: URL of its own type. */
export function imageDataUrl(bytes: Uint8Array): string {
  const mime = detectImageFormat(bytes) === 'png' ? 'image/png' : 'image/jpeg';
  return `data:${mime};base64,${Buffer.from(bytes).toString('base64')}`;
}
