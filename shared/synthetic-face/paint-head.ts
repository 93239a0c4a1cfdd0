// Painters of the person around the expression: the backdrop, hair, neck and shoulders, ears, and
// the head itself. What lies behind the head skips the pixels the head will cover opaquely.

import type { FaceCanvas } from './canvas.js';
import { scaleRgb } from './colour.js';
import type { FacePlan } from './face-plan.js';
import { clamp, ellipseDistance } from './geometry.js';
import { headOutlineDistance } from './head-outline.js';

/**
 * The backdrop: a two-colour gradient along the plan's row and column waves. Not a shape, so it
 * does not go through paint(): every pixel the head does not hide is written outright, which is
 * also what clears the reused buffer there.
 */
export function paintBackground(canvas: FaceCanvas, plan: FacePlan): void {
  const { size, backgroundA, backgroundB, backgroundColumns, backgroundRows } = plan;
  const rgb = canvas.rgb;
  for (let py = 0; py < size; py++) {
    const row = backgroundRows[py]!;
    for (let px = 0; px < size; px++) {
      if (canvas.hiddenByHead[py * size + px]) continue;
      const t = clamp(0.5 + row + backgroundColumns[px]!, 0, 1);
      const o = (py * size + px) * 3;
      rgb[o] = backgroundA[0] + (backgroundB[0] - backgroundA[0]) * t;
      rgb[o + 1] = backgroundA[1] + (backgroundB[1] - backgroundA[1]) * t;
      rgb[o + 2] = backgroundA[2] + (backgroundB[2] - backgroundA[2]) * t;
    }
  }
}

export function paintLongHair(canvas: FaceCanvas, plan: FacePlan): void {
  const { headX, headY } = canvas;
  canvas.paint({ centre: [0, 0.1], halfSize: [1.35, 1.5], behindHead: true }, (i) => {
    const hx = headX[i]!;
    const hy = headY[i]!;
    // A rounded mass behind the head that ends around the jaw line.
    const d = Math.max(ellipseDistance(hx, hy + 0.05, 1.28, 1.45), hy - 0.95);
    canvas.blend(i, plan.hair, canvas.coverage(d));
  });
}

export function paintNeckAndShoulders(canvas: FaceCanvas, plan: FacePlan): void {
  const { headX, headY } = canvas;
  const neck = scaleRgb(plan.skin, 0.78);
  canvas.paint({ centre: [0, 1.6], halfSize: [2.2, 0.9], behindHead: true }, (i) => {
    const hx = headX[i]!;
    const hy = headY[i]!;
    canvas.blend(i, neck, canvas.coverage(Math.max(Math.abs(hx) - 0.55, 0.7 - hy)));
    const shoulders = ellipseDistance(hx, hy - 2.35, 2.1, 0.95);
    canvas.blend(i, plan.clothes, canvas.coverage(shoulders));
  });
}

export function paintEars(canvas: FaceCanvas, plan: FacePlan): void {
  const earColour = scaleRgb(plan.skin, 0.9);
  const { headX, headY } = canvas;
  for (const side of [-1, 1]) {
    const earX = side * 0.98 - 0.08 * plan.yaw;
    canvas.paint({ centre: [earX, 0.05], halfSize: [0.16, 0.26], behindHead: true }, (i) => {
      canvas.blend(i, earColour, canvas.coverage(ellipseDistance(headX[i]! - earX, headY[i]! - 0.05, 0.14, 0.24)));
    });
  }
}

export function paintHead(canvas: FaceCanvas, plan: FacePlan): void {
  const aspect = plan.headAspect;
  const skin: [number, number, number] = [0, 0, 0];
  const { headX, headY, headRadius2, hiddenByHead } = canvas;
  canvas.paint({ centre: [0, 0], halfSize: [1, aspect] }, (i) => {
    const r2 = headRadius2[i]!;
    // Well outside the outline (at least 0.1 face units): nothing to draw.
    if (r2 > 1.3) return;
    const alpha = hiddenByHead[i] ? 1 : canvas.coverage(headOutlineDistance(plan, headX[i]!, headY[i]!));
    if (alpha <= 0) return;
    // Rounded shading: darker toward the rim, as a lit sphere would be.
    const shading = 1 - 0.22 * r2 * r2;
    skin[0] = plan.skin[0] * shading;
    skin[1] = plan.skin[1] * shading;
    skin[2] = plan.skin[2] * shading;
    canvas.blend(i, skin, alpha);
  });
}

export function paintHairCap(canvas: FaceCanvas, plan: FacePlan): void {
  const { headX, headY } = canvas;
  canvas.paint({ centre: [0, -0.9], halfSize: [1.2, 0.8] }, (i) => {
    const hx = headX[i]!;
    const hy = headY[i]!;
    const hairline = hy - (plan.hairline + plan.hairlineCurve * hx * hx);
    if (hairline > 0.1) return;
    const outline = ellipseDistance(hx, hy + 0.06, 1.07, plan.headAspect + 0.1);
    canvas.blend(i, plan.hair, canvas.coverage(Math.max(outline, hairline)));
  });
}
