// The outline of the head: an ellipse squeezed below the eyes into a jaw, turned a little against
// the features when the head turns. The canvas keeps each pixel's squared radius in it, which
// tells what the head hides and shades the skin; the head painter draws its edge.

import type { FacePlan } from './face-plan.js';
import { ellipseDistance } from './geometry.js';

/** The head outline turns a little against the features when the head turns. */
const HEAD_YAW_SHIFT = 0.04;

/** A jaw narrower than the temples: the head ellipse is squeezed below the eyes. */
function jawWidth(headY: number, aspect: number): number {
  return headY > 0 ? 1 - 0.12 * (headY / aspect) : 1;
}

/** Squared elliptical radius in the head outline (1 on the outline). */
export function headRadiusSquared(plan: FacePlan, headX: number, headY: number): number {
  const x = (headX + HEAD_YAW_SHIFT * plan.yaw) / jawWidth(headY, plan.headAspect);
  const y = headY / plan.headAspect;
  return x * x + y * y;
}

/** Signed distance to the head outline (face units, negative inside). */
export function headOutlineDistance(plan: FacePlan, headX: number, headY: number): number {
  return ellipseDistance(headX + HEAD_YAW_SHIFT * plan.yaw, headY, jawWidth(headY, plan.headAspect), plan.headAspect);
}
