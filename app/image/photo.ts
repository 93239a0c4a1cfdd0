// A photo's bytes → the pixels as the photo is meant to be seen: decoded by shared/image (the
// decoders training uses), then turned as its EXIF orientation says. Every way a photo can be
// unusable is a PhotoError whose code says which (serve turns each into its own 4xx).

import { tryDecodeImage, type ImageFormat, type ImageProblem, type RgbImage } from '../../shared/image/decode.js';
import { PhotoError, type ErrorCode } from '../../shared/errors.js';
import { applyOrientation, readOrientation, type Orientation } from './orientation.js';

export interface Photo {
  image: RgbImage;
  format: ImageFormat;
  orientation: Orientation;
  /** Things noticed but not fatal (an unreadable EXIF block). */
  warnings: string[];
}

export interface PhotoLimits {
  /** Width x height beyond which a photo is refused before it is decoded. */
  maxPixels: number;
}

const PROBLEM_CODES: Record<ImageProblem, ErrorCode> = {
  empty: 'PHOTO_EMPTY',
  'unsupported-format': 'PHOTO_UNSUPPORTED',
  corrupt: 'PHOTO_CORRUPT',
  'too-large': 'PHOTO_TOO_LARGE',
};

/** `where` names the photo in errors (its path, or "the uploaded photo"). */
export async function readPhoto(bytes: Uint8Array, where: string, limits: PhotoLimits): Promise<Photo> {
  const decoded = tryDecodeImage(bytes, { maxPixels: limits.maxPixels });
  if (!decoded.ok) {
    const flag = decoded.problem === 'too-large' ? ' (--max-megapixels)' : '';
    throw new PhotoError(PROBLEM_CODES[decoded.problem], `${where}: ${decoded.reason}${flag}`);
  }
  // Only JPEG carries EXIF in practice (PNG's eXIf chunk is rare and exifr reads it too).
  const { orientation, warning } = decoded.format === 'jpeg' || decoded.format === 'png' ? await readOrientation(bytes) : { orientation: 1 as const, warning: undefined };
  return {
    image: applyOrientation(decoded.image, orientation),
    format: decoded.format,
    orientation,
    warnings: warning === undefined ? [] : [`${where}: ${warning}`],
  };
}
