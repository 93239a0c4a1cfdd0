// Issue 10, point 2: the annotated copy's box, label and confidence are legible at any photo
// size: a tiny photo is enlarged, a huge one shrunk, and lines and text scale with the copy; the
// tags are really drawn (resvg's pixels laid over the photo's).

import { describe, expect, it } from 'vitest';
import jpeg from 'jpeg-js';
import { annotatedPixels, annotatePhoto, copyScale, overlaySvg } from '../app/predict/annotate.js';

const grey = (width: number, height: number) => ({ width, height, data: new Uint8Array(width * height * 3).fill(90) });
const fontPx = (svg: string) => Number(/font-size="(\d+)"/.exec(svg)![1]);

describe('the annotated copy', () => {
  it('is at least 480 pixels on its shorter side and at most 2560 on its longer one', () => {
    expect(copyScale(40, 48)).toBe(12);
    expect(copyScale(640, 480)).toBe(1);
    expect(copyScale(6000, 4000)).toBeCloseTo(2560 / 6000, 10);
    const copy = annotatePhoto(grey(40, 48), []);
    expect([copy.width, copy.height]).toEqual([480, 576]);
    const decoded = jpeg.decode(copy.jpeg);
    expect([decoded.width, decoded.height]).toEqual([480, 576]);
  });

  it('sizes its text from the copy, so it reads the same whatever the photo size', () => {
    const tag = { box: { x: 10, y: 40, width: 20, height: 20 }, text: 'happy 81%', colour: '#fbc02d' };
    expect(fontPx(overlaySvg([tag], 1, 480, 576))).toBe(22);
    expect(fontPx(overlaySvg([tag], 1, 2560, 1707))).toBe(77);
    expect(fontPx(overlaySvg([tag], 1, 200, 100))).toBe(14);
  });

  it("draws each face's box and a tag in its class colour with its label", () => {
    const photo = grey(200, 200);
    const copy = annotatedPixels(photo, [{ box: { x: 50, y: 100, width: 60, height: 60 }, text: 'sad 55%', colour: '#1976d2' }]);
    expect([copy.width, copy.height]).toEqual([480, 480]);
    const pixel = (x: number, y: number) => Array.from(copy.data.subarray((y * 480 + x) * 3, (y * 480 + x) * 3 + 3));
    // The box's left edge at x = 50 · 2.4 = 120 from y = 240; the tag sits above the box, from its left edge.
    expect(pixel(120, 300)).toEqual([0x19, 0x76, 0xd2]);
    expect(pixel(150, 300)).toEqual([90, 90, 90]);
    const tagRow = Array.from({ length: 40 }, (_, i) => pixel(122 + i, 220)).filter(([r, g, b]) => r === 0x19 && g === 0x76 && b === 0xd2);
    expect(tagRow.length).toBeGreaterThan(10);
    // White text is drawn on the blue tag (luminance below 0.4 takes white ink).
    const tag = Array.from({ length: 28 * 120 }, (_, i) => pixel(121 + (i % 120), 212 + Math.floor(i / 120)));
    expect(tag.some(([r, g, b]) => r! > 200 && g! > 200 && b! > 200)).toBe(true);
    // Away from the annotation the photo is unchanged.
    expect(pixel(400, 20)).toEqual([90, 90, 90]);
  });
});
