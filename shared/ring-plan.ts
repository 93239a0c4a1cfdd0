// The plan of a ring all-reduce (--allreduce ring), the same on every worker and on the
// coordinator. The gradient's elements are cut into `world` contiguous segments (sizes differ by
// at most one chunk's worth of rounding). Each worker streams to the next rank:
//   reduce-scatter, hops 0 .. W-2: at hop h, rank r sends segment (r - h) mod W — at hop 0 its own
//     weighted values, later the partial sum it received at hop h - 1 plus its own — so after W-1
//     hops rank r holds the whole sum of segment (r + 1) mod W, its "owned" segment;
//   all-gather, hops W-1 .. 2W-3: at all-gather hop g, rank r sends segment (r + 1 - g) mod W, the
//     final values it owns (g = 0) or received at the hop before.
// Every segment's sum is therefore built in one fixed order of ranks (from the segment's index
// upward, cyclically), and every worker ends with the same bytes. Each hop's segment travels in
// chunks of at most `chunkElements`, so the ring is pipelined: a chunk goes on as soon as it came in.

export interface RingSegment {
  index: number;
  /** First element in the gradient. */
  start: number;
  count: number;
}

export interface RingChunkPlan {
  hop: number;
  segment: number;
  /** First element of the chunk in the gradient. */
  offset: number;
  count: number;
}

export function ringSegments(elements: number, world: number): RingSegment[] {
  if (!Number.isInteger(world) || world < 1) throw new RangeError(`ring world size must be a positive integer, got ${world}`);
  const base = Math.floor(elements / world);
  const extra = elements % world;
  const segments: RingSegment[] = [];
  let start = 0;
  for (let index = 0; index < world; index++) {
    const count = base + (index < extra ? 1 : 0);
    segments.push({ index, start, count });
    start += count;
  }
  return segments;
}

const mod = (a: number, n: number) => ((a % n) + n) % n;

/** Hops of one step: 2(W - 1). */
export function ringHops(world: number): number {
  return 2 * (world - 1);
}

/** Whether hop `hop` is of the reduce-scatter (partial sums) rather than the all-gather. */
export function isReduceScatter(hop: number, world: number): boolean {
  return hop < world - 1;
}

/** The segment rank `rank` sends at `hop`. */
export function segmentSentAt(rank: number, hop: number, world: number): number {
  return isReduceScatter(hop, world) ? mod(rank - hop, world) : mod(rank + 1 - (hop - (world - 1)), world);
}

/** The segment whose whole sum rank `rank` computes (and uploads to the coordinator). */
export function ownedSegment(rank: number, world: number): number {
  return mod(rank + 1, world);
}

export function previousRank(rank: number, world: number): number {
  return mod(rank - 1, world);
}

export function nextRank(rank: number, world: number): number {
  return mod(rank + 1, world);
}

/** Every chunk rank `rank` sends in one step, in stream order. */
export function ringStream(rank: number, world: number, elements: number, chunkElements: number): RingChunkPlan[] {
  const segments = ringSegments(elements, world);
  const chunks: RingChunkPlan[] = [];
  for (let hop = 0; hop < ringHops(world); hop++) {
    const segment = segments[segmentSentAt(rank, hop, world)]!;
    for (let at = 0; at < segment.count; at += chunkElements) {
      chunks.push({ hop, segment: segment.index, offset: segment.start + at, count: Math.min(chunkElements, segment.count - at) });
    }
  }
  return chunks;
}
