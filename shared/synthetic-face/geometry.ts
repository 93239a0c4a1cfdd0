// Signed distances that the shapes of a face are shaded from (see FaceCanvas.coverage), and clamps.

/** Approximate signed distance to an axis-aligned ellipse (exact on the axes, good near the edge). */
export function ellipseDistance(x: number, y: number, rx: number, ry: number): number {
  const qx = x / rx;
  const qy = y / ry;
  const k0 = Math.sqrt(qx * qx + qy * qy);
  // Far from the edge the cheap bound (k0 - 1) * min radius is already past any anti-aliasing band.
  const bound = (k0 - 1) * (rx < ry ? rx : ry);
  if (bound > 0.1 || bound < -0.1) return bound;
  const k1 = Math.sqrt((qx / rx) * (qx / rx) + (qy / ry) * (qy / ry));
  if (k1 === 0) return -Math.min(rx, ry);
  return (k0 * (k0 - 1)) / k1;
}

/** Distance from (px, py) to the segment from (ax, ay) to (bx, by). */
export function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const abx = bx - ax;
  const aby = by - ay;
  const apx = px - ax;
  const apy = py - ay;
  const lengthSquared = abx * abx + aby * aby;
  const t = lengthSquared > 0 ? clamp((apx * abx + apy * aby) / lengthSquared, 0, 1) : 0;
  const dx = apx - abx * t;
  const dy = apy - aby * t;
  return Math.sqrt(dx * dx + dy * dy);
}

export function clamp(value: number, low: number, high: number): number {
  return value < low ? low : value > high ? high : value;
}

export function clampInt(value: number, low: number, high: number): number {
  return Math.max(low, Math.min(high, value));
}
