// Painters of the facial features, where most of the expression shows: nose, brows, eyes, mouth,
// and the glasses some people wear over them.

import type { FaceCanvas } from './canvas.js';
import { scaleRgb, type Rgb } from './colour.js';
import type { FacePlan } from './face-plan.js';
import { clamp, ellipseDistance, segmentDistance } from './geometry.js';

export function paintNose(canvas: FaceCanvas, plan: FacePlan): void {
  const shift = 0.08 * plan.yaw;
  const tipY = plan.noseLength;
  const shadow = scaleRgb(plan.skin, 0.72);
  const nostril = scaleRgb(plan.skin, 0.35);
  const wrinkle = plan.expression.noseWrinkle;
  const { featureX, featureY } = canvas;
  canvas.paint({ centre: [shift, tipY / 2 - 0.05], halfSize: [0.25, tipY / 2 + 0.15] }, (i) => {
    const fx = featureX[i]! - shift;
    const fy = featureY[i]!;
    // The shadowed side of the bridge, then the wings and nostrils.
    const bridge = segmentDistance(fx, fy, 0.05, 0.02, 0.07, tipY - 0.04) - 0.012;
    canvas.blend(i, shadow, 0.45 * canvas.coverage(bridge));
    const wings = Math.min(ellipseDistance(fx - 0.09, fy - tipY, 0.05, 0.035), ellipseDistance(fx + 0.09, fy - tipY, 0.05, 0.035));
    canvas.blend(i, shadow, 0.35 * canvas.coverage(wings));
    const nostrils = Math.min(ellipseDistance(fx - 0.07, fy - tipY - 0.02, 0.032, 0.017), ellipseDistance(fx + 0.07, fy - tipY - 0.02, 0.032, 0.017));
    canvas.blend(i, nostril, 0.8 * canvas.coverage(nostrils));
    if (wrinkle > 0.05) {
      // Short creases across the upper bridge, as the nose is scrunched.
      let crease = Infinity;
      for (let k = 0; k < 3; k++) {
        const cy = 0.02 + 0.055 * k;
        crease = Math.min(crease, segmentDistance(fx, fy, -0.07, cy + 0.01, 0.07, cy - 0.01));
      }
      canvas.blend(i, shadow, Math.min(1, wrinkle) * 0.7 * canvas.coverage(crease - 0.01));
    }
  });
}

export function paintBrows(canvas: FaceCanvas, plan: FacePlan): void {
  const { browRaise, browTilt, browArch } = plan.expression;
  const y = plan.browY - browRaise;
  const thickness = plan.browHalfThickness;
  const { featureX, featureY } = canvas;
  for (const side of [-1, 1]) {
    const innerX = side * 0.14;
    const innerY = y - browTilt;
    const midX = side * 0.34;
    const midY = y - 0.045 - browArch - browTilt * 0.3;
    const outerX = side * 0.56;
    const outerY = y + 0.02 + browTilt * 0.3;
    canvas.paint({ centre: [side * 0.35, (innerY + outerY) / 2], halfSize: [0.3, 0.2] }, (i) => {
      const fx = featureX[i]!;
      const fy = featureY[i]!;
      // Thick at the inner end, tapering outward.
      const d = Math.min(
        segmentDistance(fx, fy, innerX, innerY, midX, midY) - thickness,
        segmentDistance(fx, fy, midX, midY, outerX, outerY) - thickness * 0.7,
      );
      canvas.blend(i, plan.brows, 0.92 * canvas.coverage(d));
    });
  }
}

export function paintEyes(canvas: FaceCanvas, plan: FacePlan): void {
  const sclera: Rgb = [236, 232, 226];
  const pupil: Rgb = [18, 14, 14];
  const lash: Rgb = [35, 26, 24];
  const socket = 0.85;
  const rx = plan.eyeHalfWidth;
  const ry = plan.eyeHalfHeight;
  const irisRadius = 0.065;
  const { featureX, featureY } = canvas;
  for (const side of [-1, 1]) {
    const ex = side * plan.eyeSpacing;
    const ey = plan.eyeY;
    const ix = ex + plan.gazeX;
    canvas.paint({ centre: [ex, ey], halfSize: [rx + 0.06, ry + 0.08] }, (i) => {
      const dx = featureX[i]! - ex;
      const dy = featureY[i]! - ey;
      const eye = ellipseDistance(dx, dy, rx, ry);
      if (eye > 0.08) return;
      // A soft socket shadow, then the white, iris and pupil clipped to the lids, then the lid line.
      canvas.shade(i, socket, clamp(1 - eye / 0.08, 0, 1) * 0.6);
      const white = canvas.coverage(eye);
      if (white > 0) {
        canvas.blend(i, sclera, white);
        const r = Math.hypot(featureX[i]! - ix, dy);
        canvas.blend(i, plan.iris, canvas.coverage(Math.max(r - irisRadius, eye)));
        canvas.blend(i, pupil, canvas.coverage(Math.max(r - irisRadius * 0.45, eye)));
      }
      const lid = Math.abs(eye) - (dy < 0 ? 0.022 : 0.01);
      canvas.blend(i, lash, 0.9 * canvas.coverage(lid));
    });
  }
}

export function paintMouth(canvas: FaceCanvas, plan: FacePlan): void {
  const { mouthSmile, mouthOpen, mouthSkew, teeth } = plan.expression;
  const w = plan.mouthHalfWidth;
  const centreY = plan.mouthY;
  const upperLip = plan.lipThickness * 0.8;
  const lowerLip = plan.lipThickness * 1.15;
  const cavity: Rgb = [72, 26, 30];
  const teethColour: Rgb = [236, 230, 214];
  const { featureX, featureY } = canvas;
  canvas.paint({ centre: [0, centreY + mouthOpen * 0.35], halfSize: [w + 0.1, Math.abs(mouthSmile) + mouthOpen + 0.15] }, (i) => {
    const fx = featureX[i]!;
    const fy = featureY[i]!;
    const s = clamp(fx / w, -1, 1);
    // The parting line bends up at the corners for a smile, down for a frown; the jaw drops
    // the lower lip further than the upper one rises.
    const parting = centreY - mouthSmile * s * s - mouthSkew * s;
    const slope = (2 * mouthSmile * s + mouthSkew) / w;
    const normal = Math.sqrt(1 + slope * slope);
    const gap = mouthOpen * Math.sqrt(1 - s * s);
    const upper = parting - 0.3 * gap;
    const lower = parting + gap;
    const opening = Math.max((upper - fy) / normal, (fy - lower) / normal, Math.abs(fx) - w);
    const lipEdge = opening - (fy < parting ? upperLip : lowerLip) * Math.sqrt(1 - 0.7 * s * s);
    canvas.blend(i, plan.lips, canvas.coverage(lipEdge));
    const inside = canvas.coverage(opening - 0.01);
    if (inside <= 0) return;
    canvas.blend(i, cavity, inside);
    if (teeth > 0.05 && gap > 0.01) {
      const teethEdge = fy - (upper + teeth * 0.6 * (lower - upper));
      canvas.blend(i, teethColour, inside * canvas.coverage(teethEdge));
    }
  });
}

export function paintGlasses(canvas: FaceCanvas, plan: FacePlan): void {
  const frame: Rgb = [30, 30, 34];
  const radius = 0.2;
  const { featureX, featureY } = canvas;
  canvas.paint({ centre: [0, plan.eyeY], halfSize: [plan.eyeSpacing + radius + 0.05, radius + 0.05] }, (i) => {
    const fx = featureX[i]!;
    const dy = featureY[i]! - plan.eyeY;
    const ring = Math.min(
      Math.abs(Math.hypot(fx - plan.eyeSpacing, dy) - radius),
      Math.abs(Math.hypot(fx + plan.eyeSpacing, dy) - radius),
      segmentDistance(fx, dy, -plan.eyeSpacing + radius, -0.03, plan.eyeSpacing - radius, -0.03),
    );
    canvas.blend(i, frame, 0.9 * canvas.coverage(ring - 0.015));
  });
}
