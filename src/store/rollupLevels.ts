// The levels of the scalar rollup from which both readers reduce a long range. Level 0 is the
// 64-step blocks of scalar_blocks; each coarser level holds ROLLUP_FAN_OUT blocks of the one
// below (512 and 4096 steps). PostgreSQL keeps the coarse levels in scalar_coarse_blocks, as its
// reads cost per row sent through the server's executor; SQLite reads its 64-step blocks in
// process and groups them into the same coarse blocks as it goes. Both pick the level here, so
// their buckets are made of the same blocks and their answers agree.
import { SCALAR_BLOCK_STEPS } from "./database.ts";

/** Blocks of a level per block of the next coarser one. */
export const ROLLUP_FAN_OUT = 8;

/** The coarse levels above the 64-step blocks (scalar_coarse_blocks.level runs 1 to this). */
export const COARSE_LEVELS = 2;

// Whole blocks per bucket from which the blocks answer: below it the buckets' step widths, each a
// run of whole blocks, would differ by more than half (and a short range reads its rows anyway).
const MIN_BLOCKS_PER_BUCKET = 2;

/** The whole blocks of one rollup level within a step range. */
export interface RollupSpan {
  level: number;
  /** Steps per block of the level. */
  steps: number;
  first: number;
  last: number;
}

/**
 * The whole blocks within [lo, hi] of the coarsest level that has at least MIN_BLOCKS_PER_BUCKET
 * of them per bucket, or null when even the 64-step blocks are too few. Reading the coarsest
 * such level bounds the blocks read to 2 × ROLLUP_FAN_OUT per bucket, however long the series
 * (up to the coarsest level's reach), instead of one per 64 steps.
 */
export function rollupSpan(lo: number, hi: number, buckets: number): RollupSpan | null {
  for (let level = COARSE_LEVELS; level >= 0; level--) {
    const steps = SCALAR_BLOCK_STEPS * ROLLUP_FAN_OUT ** level;
    const first = Math.ceil(lo / steps);
    const last = Math.floor((hi + 1) / steps) - 1;
    if (last - first + 1 >= MIN_BLOCKS_PER_BUCKET * buckets) return { level, steps, first, last };
  }
  return null;
}
