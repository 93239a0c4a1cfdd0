// Developing the painted face like a photograph: the plan's lighting and colour cast, optional
// grayscale, and sensor noise from the image's own noise stream, then quantised to RGB bytes.

import type { SeededRandom } from '../random.js';
import type { FaceCanvas } from './canvas.js';
import type { FacePlan } from './face-plan.js';

/** Lighting, colour cast, optional grayscale and sensor noise, then quantised to bytes. */
export function develop(canvas: FaceCanvas, plan: FacePlan, random: SeededRandom): Uint8Array {
  const { size, brightness, lightX, lightY, noiseAmplitude, grayscale } = plan;
  const [castR, castG, castB] = plan.colourCast;
  // Clamped bytes round and saturate on assignment, which is the quantisation wanted here.
  const out = new Uint8ClampedArray(size * size * 3);
  const rgb = canvas.rgb;
  const inverseSize = 1 / size;
  const grainScale = noiseAmplitude / 32767.5;
  const chromaScale = (noiseAmplitude * 0.3) / 127.5;
  const chromaOffset = noiseAmplitude * 0.3;
  for (let py = 0; py < size; py++) {
    const rowLight = brightness * (1 + lightY * ((py + 0.5) * inverseSize - 0.5));
    for (let px = 0; px < size; px++) {
      const light = rowLight + brightness * lightX * ((px + 0.5) * inverseSize - 0.5);
      const o = (py * size + px) * 3;
      let r = rgb[o]! * light * castR;
      let g = rgb[o + 1]! * light * castG;
      let b = rgb[o + 2]! * light * castB;
      if (grayscale) {
        const luma = 0.299 * r + 0.587 * g + 0.114 * b;
        r = luma;
        g = luma;
        b = luma;
      }
      // One draw per pixel: shared luminance grain plus a weaker chroma grain.
      const bits = random.nextUint32();
      const grain = (bits & 0xffff) * grainScale - noiseAmplitude;
      const chromaA = ((bits >>> 16) & 0xff) * chromaScale - chromaOffset;
      const chromaB = (bits >>> 24) * chromaScale - chromaOffset;
      out[o] = r + grain + chromaA;
      out[o + 1] = g + grain - 0.5 * (chromaA + chromaB);
      out[o + 2] = b + grain + chromaB;
    }
  }
  return new Uint8Array(out.buffer);
}
