// Painters of the marks action units leave on the skin: forehead and frown lines, crow's feet, the
// raised chin, flushed cheeks and smile lines. Each scales with its expression parameter and is not
// drawn at all when that is negligible.

import type { FaceCanvas } from './canvas.js';
import { scaleRgb, type Rgb } from './colour.js';
import type { FacePlan } from './face-plan.js';
import { segmentDistance } from './geometry.js';

export function paintForeheadLines(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.foreheadLines * 0.6;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.7);
  const halfLength = 0.42;
  const topY = plan.browY - plan.expression.browRaise - 0.16;
  const { featureX, featureY } = canvas;
  canvas.paint({ centre: [0, topY - 0.1], halfSize: [halfLength, 0.16] }, (i) => {
    const fx = featureX[i]!;
    const along = fx / halfLength;
    if (along <= -1 || along >= 1) return;
    // Three arched lines, fading toward their ends.
    const arch = 0.04 * (1 - along * along);
    let d = Infinity;
    for (let k = 0; k < 3; k++) d = Math.min(d, Math.abs(featureY[i]! - (topY - 0.085 * k - arch)));
    canvas.blend(i, crease, strength * (1 - along * along * along * along) * canvas.coverage(d - 0.011));
  });
}

export function paintFrownLines(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.frownLines * 0.7;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.65);
  const top = plan.browY - plan.expression.browRaise - 0.04;
  const bottom = top + 0.16;
  const { featureX, featureY } = canvas;
  canvas.paint({ centre: [0, (top + bottom) / 2], halfSize: [0.12, 0.12] }, (i) => {
    const fx = featureX[i]!;
    const fy = featureY[i]!;
    const d = Math.min(segmentDistance(fx, fy, -0.05, top, -0.035, bottom), segmentDistance(fx, fy, 0.05, top, 0.035, bottom));
    canvas.blend(i, crease, strength * canvas.coverage(d - 0.011));
  });
}

export function paintCrowsFeet(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.crowsFeet * 0.6;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.68);
  const { featureX, featureY } = canvas;
  for (const side of [-1, 1]) {
    const startX = side * (plan.eyeSpacing + plan.eyeHalfWidth + 0.03);
    const startY = plan.eyeY;
    canvas.paint({ centre: [startX + side * 0.05, startY], halfSize: [0.1, 0.1] }, (i) => {
      const fx = featureX[i]!;
      const fy = featureY[i]!;
      let d = Infinity;
      for (const slope of [-0.5, 0, 0.5]) d = Math.min(d, segmentDistance(fx, fy, startX, startY + slope * 0.02, startX + side * 0.09, startY + slope * 0.09));
      canvas.blend(i, crease, strength * canvas.coverage(d - 0.01));
    });
  }
}

export function paintChin(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.chinRaise * 0.5;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.68);
  const creaseY = plan.mouthY + plan.lipThickness * 1.15 + plan.expression.mouthOpen + 0.07;
  const { featureX, featureY } = canvas;
  canvas.paint({ centre: [0, creaseY + 0.12], halfSize: [0.25, 0.18] }, (i) => {
    const fx = featureX[i]!;
    const fy = featureY[i]!;
    // The deepened crease under the lower lip, then the dimpled (darker, blotchy) chin boss.
    const along = fx / 0.2;
    if (along > -1 && along < 1) {
      const line = Math.abs(fy - (creaseY - 0.03 * (1 - along * along)));
      canvas.blend(i, crease, strength * (1 - along * along) * canvas.coverage(line - 0.012));
    }
    const bossX = fx / 0.16;
    const bossY = (fy - creaseY - 0.13) / 0.08;
    const falloff = 1 - (bossX * bossX + bossY * bossY);
    if (falloff > 0) canvas.blend(i, crease, strength * 0.5 * falloff);
  });
}

export function paintCheeks(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.cheekRaise * 0.35;
  if (strength <= 0.01) return;
  const blush: Rgb = [plan.skin[0], plan.skin[1] * 0.8, plan.skin[2] * 0.82];
  const { featureX, featureY } = canvas;
  for (const side of [-1, 1]) {
    const cx = side * 0.48;
    const cy = 0.3;
    canvas.paint({ centre: [cx, cy], halfSize: [0.25, 0.2] }, (i) => {
      const dx = (featureX[i]! - cx) / 0.22;
      const dy = (featureY[i]! - cy) / 0.16;
      const falloff = 1 - (dx * dx + dy * dy);
      if (falloff > 0) canvas.blend(i, blush, strength * falloff);
    });
  }
}

export function paintSmileLines(canvas: FaceCanvas, plan: FacePlan): void {
  const strength = plan.expression.smileLines * 0.5;
  if (strength <= 0.02) return;
  const crease = scaleRgb(plan.skin, 0.7);
  const endY = plan.mouthY - plan.expression.mouthSmile + 0.04;
  const { featureX, featureY } = canvas;
  for (const side of [-1, 1]) {
    const ax = side * 0.16;
    const ay = plan.noseLength + 0.02;
    const bx = side * (plan.mouthHalfWidth + 0.09);
    const by = endY;
    canvas.paint({ centre: [(ax + bx) / 2, (ay + by) / 2], halfSize: [Math.abs(bx - ax) / 2 + 0.05, Math.abs(by - ay) / 2 + 0.05] }, (i) => {
      const d = segmentDistance(featureX[i]!, featureY[i]!, ax, ay, bx, by) - 0.012;
      canvas.blend(i, crease, strength * canvas.coverage(d));
    });
  }
}
