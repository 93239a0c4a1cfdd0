// The canvas a face is painted on, and the one drawing primitive every shape goes through: paint()
// visits the pixels of a region of the face, where a painter blends its shapes in by coverage.
//
// Shapes are shaded from signed distances (coverage = distance to the edge in pixels, clamped),
// which anti-aliases them without supersampling: a 100x100 face takes about a millisecond.

import type { Rgb } from './colour.js';
import type { FacePlan } from './face-plan.js';
import { clampInt } from './geometry.js';
import { headRadiusSquared } from './head-outline.js';

/** Where a painter draws: the pixels covering a box of the head's frame (FaceCanvas.box). */
export interface Region {
  /** Centre and half extents of the box, in face units. */
  centre: readonly [number, number];
  halfSize: readonly [number, number];
  /** Drawn behind the head: the pixels its opaque middle hides are left alone. */
  behindHead?: boolean;
}

/**
 * A float RGB image plus, per pixel, its position in the head's frame (rotated, scaled, centred
 * on the head) and in the features' frame (the head frame bent by yaw), so that each shape is a
 * function of face coordinates and pose comes for free.
 */
export class FaceCanvas {
  readonly size: number;
  readonly rgb: Float32Array;
  readonly headX: Float32Array;
  readonly headY: Float32Array;
  readonly featureX: Float32Array;
  readonly featureY: Float32Array;
  /** Squared elliptical radius in the head outline: 0 at the centre, 1 on the outline. */
  readonly headRadius2: Float32Array;
  /** 1 where the opaque middle of the head hides whatever lies behind it, which is then not drawn. */
  readonly hiddenByHead: Uint8Array;
  /** Converts a distance in face units into pixels, for edge coverage. */
  readonly pixelsPerUnit: number;
  private readonly plan: FacePlan;

  constructor(plan: FacePlan) {
    const { size, cos, sin, pixelsPerUnit, yaw } = plan;
    this.plan = plan;
    this.size = size;
    this.pixelsPerUnit = pixelsPerUnit;
    const buffers = scratchBuffers(size);
    this.rgb = buffers.rgb;
    this.headX = buffers.headX;
    this.headY = buffers.headY;
    this.featureX = buffers.featureX;
    this.featureY = buffers.featureY;
    this.headRadius2 = buffers.headRadius2;
    this.hiddenByHead = buffers.hiddenByHead;
    const inverseScale = 1 / pixelsPerUnit;
    for (let py = 0; py < size; py++) {
      const dy = py + 0.5 - plan.centreY;
      for (let px = 0; px < size; px++) {
        const dx = px + 0.5 - plan.centreX;
        const hx = (cos * dx + sin * dy) * inverseScale;
        const hy = (-sin * dx + cos * dy) * inverseScale;
        const i = py * size + px;
        this.headX[i] = hx;
        this.headY[i] = hy;
        this.featureX[i] = (hx - 0.14 * yaw) * (1 + 0.2 * yaw * hx);
        this.featureY[i] = hy;
        const headRadius2 = headRadiusSquared(plan, hx, hy);
        this.headRadius2[i] = headRadius2;
        this.hiddenByHead[i] = headRadius2 < 0.8 ? 1 : 0;
      }
    }
  }

  /**
   * The drawing primitive: hands `draw` each pixel (its index) of `region`, where the painter
   * blends and shades its shapes by their coverage. The index alone, because numbers passed to or
   * returned from a callback that is not inlined are boxed: painters written as layers that took
   * (x, y) and returned an opacity drew faces about 1.7x slower than the per-painter loops this
   * replaced, against about 1.3x for this.
   */
  paint(region: Region, draw: (pixel: number) => void): void {
    const [x0, x1, y0, y1] = this.box(region.centre[0], region.centre[1], region.halfSize[0], region.halfSize[1]);
    const { size, hiddenByHead } = this;
    const behindHead = region.behindHead === true;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) {
        const i = py * size + px;
        if (behindHead && hiddenByHead[i]) continue;
        draw(i);
      }
    }
  }

  /** Coverage of a shape at a pixel whose centre is `distance` face units outside its edge. */
  coverage(distance: number): number {
    const c = 0.5 - distance * this.pixelsPerUnit;
    return c <= 0 ? 0 : c >= 1 ? 1 : c;
  }

  /** The pixel rectangle [x0, x1) x [y0, y1) covering a face-unit box, with slack for the yaw bend. */
  private box(centreX: number, centreY: number, halfWidth: number, halfHeight: number): [number, number, number, number] {
    const { cos, sin, pixelsPerUnit, centreX: cx, centreY: cy, yaw } = this.plan;
    // The yaw bend moves a feature point by at most this much (shift plus far-side compression).
    const slack = Math.abs(yaw) * (0.14 + 0.3 * (Math.abs(centreX) + halfWidth)) + 2 / pixelsPerUnit;
    const hw = halfWidth + slack;
    const hh = halfHeight + slack;
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const [ux, uy] of [[-hw, -hh], [hw, -hh], [-hw, hh], [hw, hh]] as const) {
      const fx = centreX + ux;
      const fy = centreY + uy;
      const px = cx + (cos * fx - sin * fy) * pixelsPerUnit;
      const py = cy + (sin * fx + cos * fy) * pixelsPerUnit;
      x0 = Math.min(x0, px);
      x1 = Math.max(x1, px);
      y0 = Math.min(y0, py);
      y1 = Math.max(y1, py);
    }
    const s = this.size;
    return [clampInt(Math.floor(x0), 0, s), clampInt(Math.ceil(x1), 0, s), clampInt(Math.floor(y0), 0, s), clampInt(Math.ceil(y1), 0, s)];
  }

  blend(pixel: number, colour: Rgb, alpha: number): void {
    if (alpha <= 0) return;
    const o = pixel * 3;
    const rgb = this.rgb;
    if (alpha >= 1) {
      // Exact replacement, so an opaque layer erases the reused buffer's earlier contents bit for bit.
      rgb[o] = colour[0];
      rgb[o + 1] = colour[1];
      rgb[o + 2] = colour[2];
      return;
    }
    rgb[o] = rgb[o]! + (colour[0] - rgb[o]!) * alpha;
    rgb[o + 1] = rgb[o + 1]! + (colour[1] - rgb[o + 1]!) * alpha;
    rgb[o + 2] = rgb[o + 2]! + (colour[2] - rgb[o + 2]!) * alpha;
  }

  /** Multiplies a pixel's colour by `factor` (shading) with weight `alpha`. */
  shade(pixel: number, factor: number, alpha: number): void {
    if (alpha <= 0) return;
    const o = pixel * 3;
    const k = 1 + (factor - 1) * alpha;
    const rgb = this.rgb;
    rgb[o] = rgb[o]! * k;
    rgb[o + 1] = rgb[o + 1]! * k;
    rgb[o + 2] = rgb[o + 2]! * k;
  }
}

interface ScratchBuffers {
  size: number;
  rgb: Float32Array;
  headX: Float32Array;
  headY: Float32Array;
  featureX: Float32Array;
  featureY: Float32Array;
  headRadius2: Float32Array;
  hiddenByHead: Uint8Array;
}

let scratch: ScratchBuffers | undefined;

/**
 * Working buffers reused from one face to the next: allocating them per face cost more than
 * drawing it. Every pixel of each is overwritten before it is read, so reuse cannot leak state.
 */
function scratchBuffers(size: number): ScratchBuffers {
  if (scratch?.size !== size) {
    const pixels = size * size;
    scratch = {
      size,
      rgb: new Float32Array(pixels * 3),
      headX: new Float32Array(pixels),
      headY: new Float32Array(pixels),
      featureX: new Float32Array(pixels),
      featureY: new Float32Array(pixels),
      headRadius2: new Float32Array(pixels),
      hiddenByHead: new Uint8Array(pixels),
    };
  }
  return scratch;
}
