import { truncInRange } from "./simd";

// Histograms with torch.histc's float32 arithmetic (Cockpit GradHist1d). Counts are float64 so
// that N·D beyond 2^31 still counts exactly.

@inline
function histcBin(x: f32, lo: f32, hi: f32, bins: f32, width: f32, last: i32): i32 {
  const v = min(max(x, lo), hi);
  return min(<i32>floor(((v - lo) * bins) / width), last);
}

@inline
function addCount(counts: usize, bin: i32, amount: f64): void {
  const at = counts + (<usize>bin << 3);
  store<f64>(at, load<f64>(at) + amount);
}

/**
 * counts[bin(fl(scale·x))] += 1 for each of n values (scale 1 bins x itself); NaNs are not
 * counted. Four lanes at a time into the u32 sub-histograms at `lanes` (16 bytes per bin).
 */
export function histogram1d(values: usize, n: i32, scale: f32, lo: f32, hi: f32, bins: i32, counts: usize, lanes: usize): void {
  setBins(lo, hi, bins, scale, counts);
  setLanes(counts, bins, lanes);
  const s = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = f32x4.mul(s, v128.load(values + (<usize>i << 2)));
    if (v128.any_true(f32x4.ne(x, x))) {
      for (let lane = 0; lane < 4; lane++) countScaled(load<f32>(values + (<usize>(i + lane) << 2)));
      continue;
    }
    const bin = laneBins(x);
    laneCount(i32x4.extract_lane(bin, 0), 0);
    laneCount(i32x4.extract_lane(bin, 1), 1);
    laneCount(i32x4.extract_lane(bin, 2), 2);
    laneCount(i32x4.extract_lane(bin, 3), 3);
  }
  for (; i < n; i++) countScaled(load<f32>(values + (<usize>i << 2)));
  foldLanes();
}

@inline
function countScaled(x: f32): void {
  const product = gScale * x;
  if (product == product) addCount(gCounts, scalarBin(product), 1);
}

// Exact bin edges of one call in the product domain: edges[k] is the smallest float32 whose
// bin is >= k (k = 1 .. bins-1), edges[bins] = +inf. Found by bisection over the float32
// order, so comparisons against them agree with the division formula bit for bit.
const MAX_BINS: i32 = 1024;
const EDGES_BYTES: i32 = (MAX_BINS * 4 + 8 + 15) & ~15;
// Set from the call's `work` area: every thread's instance counts into its own.
let edges: usize = 0;

@inline
function orderedKey(x: f32): i32 {
  const bits = reinterpret<i32>(x);
  return bits >= 0 ? bits : bits ^ 0x7fffffff;
}

@inline
function fromKey(key: i32): f32 {
  return reinterpret<f32>(key >= 0 ? key : key ^ 0x7fffffff);
}

function computeEdges(lo: f32, hi: f32, bins: i32): void {
  const width = hi - lo;
  const fbins = <f32>bins;
  for (let k = 1; k < bins; k++) {
    // Keys span most of the i32 range, so their differences are taken in i64.
    let below = <i64>orderedKey(lo);
    let atOrAbove = <i64>orderedKey(hi);
    while (atOrAbove - below > 1) {
      const middle = below + ((atOrAbove - below) >> 1);
      if (histcBin(fromKey(<i32>middle), lo, hi, fbins, width, bins - 1) >= k) atOrAbove = middle;
      else below = middle;
    }
    store<f32>(edges + (<usize>k << 2), fromKey(<i32>atOrAbove));
  }
  store<f32>(edges + (<usize>bins << 2), f32.POSITIVE_INFINITY);
}

@inline
function edge(k: i32): f32 {
  return load<f32>(edges + (<usize>k << 2));
}

/** The largest number of bins `rankOneHistogram1d` accepts. */
export function rankOneHistogramMaxBins(): i32 {
  return MAX_BINS;
}

/** Bytes of the `work` area `rankOneHistogram1d` takes (16-byte aligned): edges and hits. */
export function rankOneHistogramWorkBytes(): i32 {
  return EDGES_BYTES + MAX_BINS * 32;
}

/**
 * hist1d of rank-one per-sample gradients fl(s·fl(r·c)) over all pairs of a "row" value r and
 * a "column" value c of each sample, without forming the products (Linear weights: r and c
 * are δ_i and a_i in either order, since the product commutes). For fixed r the product is
 * monotone in c, so within the negative and the positive column values a row's products lie
 * between the products of the extremes: when those share a bin, the whole group counts there
 * in O(1) (four rows at a time). Only groups straddling an edge count, per crossed edge, the
 * products at or above it with a SIMD pass over the column. Zero rows (units a ReLU switched
 * off) only make zero products, counted at once: the others are compacted into `scratch`
 * (rowCount floats) first. `work` holds rankOneHistogramWorkBytes bytes of the call's tables.
 */
export function rankOneHistogram1d(
  columns: usize, columnLength: i32, rows: usize, rowCount: i32, batch: i32, scale: f32, lo: f32, hi: f32, bins: i32, counts: usize, scratch: usize, work: usize,
): void {
  edges = work;
  hits = work + EDGES_BYTES;
  computeEdges(lo, hi, bins);
  setBins(lo, hi, bins, scale, counts);
  const zeroBin = scalarBin(0);
  for (let i = 0; i < batch; i++) {
    const column = columns + ((<usize>i * columnLength) << 2);
    let rowBase = rows + ((<usize>i * rowCount) << 2);
    signGroups(column, columnLength);
    memory.fill(hits, 0, <usize>(2 * bins) << 4);
    let finiteRows = 0;
    let rowsLeft = rowCount;
    let o = 0;
    if (columnFinite) {
      rowsLeft = compactNonzero(rowBase, rowCount, scratch);
      rowBase = scratch;
      // fl(s·fl(0·c)) is ±0 for every finite c.
      addCount(counts, zeroBin, <f64>(rowCount - rowsLeft) * <f64>columnLength);
      for (; o + 4 <= rowsLeft; o += 4) {
        const r = v128.load(rowBase + (<usize>o << 2));
        if (!i32x4.all_true(f32x4.eq(f32x4.sub(r, r), f32x4.splat(0)))) {
          for (let lane = 0; lane < 4; lane++) finiteRows += countRow(column, columnLength, load<f32>(rowBase + (<usize>(o + lane) << 2)));
          continue;
        }
        if (negatives > 0) countGroupLanes(column, columnLength, r, negativeMin, negativeMax, false, hits);
        if (positives > 0) countGroupLanes(column, columnLength, r, positiveMin, positiveMax, true, hits + (<usize>bins << 4));
        finiteRows += 4;
      }
    }
    for (; o < rowsLeft; o++) finiteRows += countRow(column, columnLength, load<f32>(rowBase + (<usize>o << 2)));
    for (let b = 0; b < bins; b++) {
      const negativeHits = sumLanes(v128.load(hits + (<usize>b << 4)));
      const positiveHits = sumLanes(v128.load(hits + (<usize>(bins + b) << 4)));
      const rowsHere = <f64>negativeHits * <f64>negatives + <f64>positiveHits * <f64>positives;
      if (rowsHere != 0) addCount(counts, b, rowsHere);
    }
    addCount(counts, zeroBin, <f64>finiteRows * <f64>(columnLength - negatives - positives));
  }
}

// Copies the n values at `values` that are not zero (NaNs included) to `out`; returns how many.
function compactNonzero(values: usize, n: i32, out: usize): i32 {
  let kept = 0;
  for (let j = 0; j < n; j++) {
    const v = load<f32>(values + (<usize>j << 2));
    store<f32>(out + (<usize>kept << 2), v);
    kept += <i32>(v != 0);
  }
  return kept;
}

// Rows whose whole sign group fell into one bin, per bin and vector lane: [negative group |
// positive group], each [bin][lane] i32. Separate lanes keep rows that hit the same bin (most do)
// from chaining their increments through one memory location.
let hits: usize = 0;

// State of one rankOneHistogram1d call (module globals keep the helpers' signatures short).
let gLo: f32 = 0;
let gHi: f32 = 0;
let gBins: f32 = 0;
let gWidth: f32 = 0;
let gLast: i32 = 0;
let gScale: f32 = 0;
let gCounts: usize = 0;

function setBins(lo: f32, hi: f32, bins: i32, scale: f32, counts: usize): void {
  gLo = lo;
  gHi = hi;
  gBins = <f32>bins;
  gWidth = hi - lo;
  gLast = bins - 1;
  gScale = scale;
  gCounts = counts;
}

@inline
function scalarBin(x: f32): i32 {
  return histcBin(x, gLo, gHi, gBins, gWidth, gLast);
}

// histcBin on four lanes of non-NaN values; the same float32 operations, so the same bins. The
// clamped value is at least lo, so the scaled value is non-negative and truncation is its floor.
// (pmin/pmax are single instructions where min/max handle NaN and −0 in several; no NaN gets
// here, and a −0 only meets lo = 0, where both zeros scale to the same bin.)
@inline
function laneBins(x: v128): v128 {
  const v = f32x4.pmin(f32x4.pmax(x, f32x4.splat(gLo)), f32x4.splat(gHi));
  const scaled = f32x4.div(f32x4.mul(f32x4.sub(v, f32x4.splat(gLo)), f32x4.splat(gBins)), f32x4.splat(gWidth));
  return i32x4.min_s(truncInRange(scaled), i32x4.splat(gLast));
}

// The current sample's column: counts and extremes of its negative and positive values.
let columnFinite = true;
let negatives = 0;
let negativeMin: f32 = 0;
let negativeMax: f32 = 0;
let positives = 0;
let positiveMin: f32 = 0;
let positiveMax: f32 = 0;

// Fills the sign-group globals above, branch-free on four lanes.
function signGroups(column: usize, length: i32): void {
  const zero = f32x4.splat(0);
  const inf = f32x4.splat(f32.POSITIVE_INFINITY);
  const minusInf = f32x4.splat(f32.NEGATIVE_INFINITY);
  let negativeCount = i32x4.splat(0), positiveCount = i32x4.splat(0);
  let negativeLeast = inf, negativeGreatest = minusInf, positiveLeast = inf, positiveGreatest = minusInf;
  let nonFinite = i32x4.splat(0);
  let j = 0;
  for (; j + 4 <= length; j += 4) {
    const c = v128.load(column + (<usize>j << 2));
    const negative = f32x4.lt(c, zero);
    const positive = f32x4.gt(c, zero);
    negativeCount = i32x4.sub(negativeCount, negative);
    positiveCount = i32x4.sub(positiveCount, positive);
    // pmin/pmax: one instruction each; a NaN only matters through nonFinite. The least value
    // overall is the least negative one whenever there are negatives, and likewise the greatest.
    negativeLeast = f32x4.pmin(negativeLeast, c);
    negativeGreatest = f32x4.pmax(negativeGreatest, v128.bitselect(c, minusInf, negative));
    positiveLeast = f32x4.pmin(positiveLeast, v128.bitselect(c, inf, positive));
    positiveGreatest = f32x4.pmax(positiveGreatest, c);
    nonFinite = v128.or(nonFinite, f32x4.ne(f32x4.sub(c, c), zero));
  }
  negatives = sumLanes(negativeCount);
  positives = sumLanes(positiveCount);
  negativeMin = minLanes(negativeLeast);
  negativeMax = maxLanes(negativeGreatest);
  positiveMin = minLanes(positiveLeast);
  positiveMax = maxLanes(positiveGreatest);
  columnFinite = !v128.any_true(nonFinite);
  for (; j < length; j++) {
    const v = load<f32>(column + (<usize>j << 2));
    if (v > 0) {
      positives++;
      positiveMin = min(positiveMin, v);
      positiveMax = max(positiveMax, v);
    } else if (v < 0) {
      negatives++;
      negativeMin = min(negativeMin, v);
      negativeMax = max(negativeMax, v);
    }
    if (!isFinite(v)) columnFinite = false;
  }
}

@inline
function sumLanes(x: v128): i32 {
  return i32x4.extract_lane(x, 0) + i32x4.extract_lane(x, 1) + i32x4.extract_lane(x, 2) + i32x4.extract_lane(x, 3);
}

@inline
function minLanes(x: v128): f32 {
  return min(min(f32x4.extract_lane(x, 0), f32x4.extract_lane(x, 1)), min(f32x4.extract_lane(x, 2), f32x4.extract_lane(x, 3)));
}

@inline
function maxLanes(x: v128): f32 {
  return max(max(f32x4.extract_lane(x, 0), f32x4.extract_lane(x, 1)), max(f32x4.extract_lane(x, 2), f32x4.extract_lane(x, 3)));
}

// One sign group for four finite rows: lanes whose extreme products share a bin only count a
// hit; the others count exactly through the crossed edges.
@inline
function countGroupLanes(column: usize, length: i32, r: v128, least: f32, greatest: f32, positive: bool, groupHits: usize): void {
  const s = f32x4.splat(gScale);
  const p = f32x4.mul(s, f32x4.mul(r, f32x4.splat(least)));
  const q = f32x4.mul(s, f32x4.mul(r, f32x4.splat(greatest)));
  // Products of finite nonzero values: no NaN, so the one-instruction pmin/pmax serve.
  const lowBins = laneBins(f32x4.pmin(p, q));
  const highBins = laneBins(f32x4.pmax(p, q));
  const same = i32x4.eq(lowBins, highBins);
  if (i32x4.all_true(same)) {
    hit(groupHits, i32x4.extract_lane(lowBins, 0), 0);
    hit(groupHits, i32x4.extract_lane(lowBins, 1), 1);
    hit(groupHits, i32x4.extract_lane(lowBins, 2), 2);
    hit(groupHits, i32x4.extract_lane(lowBins, 3), 3);
    return;
  }
  hitOrCross(column, length, f32x4.extract_lane(r, 0), positive, groupHits, i32x4.extract_lane(lowBins, 0), i32x4.extract_lane(highBins, 0), 0);
  hitOrCross(column, length, f32x4.extract_lane(r, 1), positive, groupHits, i32x4.extract_lane(lowBins, 1), i32x4.extract_lane(highBins, 1), 1);
  hitOrCross(column, length, f32x4.extract_lane(r, 2), positive, groupHits, i32x4.extract_lane(lowBins, 2), i32x4.extract_lane(highBins, 2), 2);
  hitOrCross(column, length, f32x4.extract_lane(r, 3), positive, groupHits, i32x4.extract_lane(lowBins, 3), i32x4.extract_lane(highBins, 3), 3);
}

@inline
function hit(groupHits: usize, bin: i32, lane: i32): void {
  const at = groupHits + ((<usize>bin << 4) | (<usize>lane << 2));
  store<i32>(at, load<i32>(at) + 1);
}

@inline
function hitOrCross(column: usize, length: i32, r: f32, positive: bool, groupHits: usize, lowBin: i32, highBin: i32, lane: i32): void {
  if (lowBin == highBin) hit(groupHits, lowBin, lane);
  else countCrossing(column, length, r, positive ? positives : negatives, positive, lowBin, highBin);
}

// A row's group straddles edges lowBin+1 .. highBin: atOrAbove(k) of its products are >= edge
// k, and bin k holds atOrAbove(k) − atOrAbove(k+1).
function countCrossing(column: usize, length: i32, r: f32, size: i32, positive: bool, lowBin: i32, highBin: i32): void {
  let above = size;
  for (let k = lowBin + 1; k <= highBin; k++) {
    const next = countAtOrAbove(column, length, r, edge(k), positive);
    addCount(gCounts, k - 1, <f64>(above - next));
    above = next;
  }
  addCount(gCounts, highBin, <f64>above);
}

// #{j : c_j in the sign group and fl(s·fl(r·c_j)) >= threshold}. The product is monotone in c
// (rising when s·r > 0, else falling), so those c lie on one side of a bound found once per
// call, and a SIMD pass only compares the column with it. The group straddles the threshold, so
// the bound lies inside the group; values of the other sign and zeros are taken off by count.
// (A scan of the short column measured faster than sorting it per sample and bisecting.)
function countAtOrAbove(column: usize, length: i32, r: f32, threshold: f32, positive: bool): i32 {
  const rising = gScale > 0 == r > 0;
  const bound = boundOf(r, threshold, rising);
  const zeros = length - negatives - positives;
  if (rising) {
    const atLeast = countAbove(column, length, bound, false);
    return positive ? atLeast : atLeast - zeros - positives;
  }
  const atMost = length - countAbove(column, length, bound, true);
  return positive ? atMost - zeros - negatives : atMost;
}

@inline
function product(r: f32, c: f32): f32 {
  return gScale * (r * c);
}

// The least c with product(r, c) >= threshold when rising, else the greatest. The quotient is
// within a few ulps of it, so a short walk finds it; bisection over the float order is the
// fallback (underflow can make the product flat over many values).
function boundOf(r: f32, threshold: f32, rising: bool): f32 {
  const step = rising ? -1 : 1;
  let key = orderedKey(<f32>(<f64>threshold / (<f64>gScale * <f64>r)));
  for (let walk = 0; walk < 8; walk++) {
    const here = product(r, fromKey(key)) >= threshold;
    // Inside the set, move outwards while the neighbour stays in; outside, move inwards.
    if (here && product(r, fromKey(key + step)) < threshold) return fromKey(key);
    key += here ? step : -step;
  }
  let inside = rising ? <i64>orderedKey(f32.POSITIVE_INFINITY) : <i64>orderedKey(f32.NEGATIVE_INFINITY);
  let outside = rising ? <i64>orderedKey(f32.NEGATIVE_INFINITY) : <i64>orderedKey(f32.POSITIVE_INFINITY);
  while (abs(inside - outside) > 1) {
    const middle = outside + ((inside - outside) >> 1);
    if (product(r, fromKey(<i32>middle)) >= threshold) inside = middle;
    else outside = middle;
  }
  return fromKey(<i32>inside);
}

// #{j : c_j >= bound}, or > bound when strict, four lanes at a time.
function countAbove(column: usize, length: i32, bound: f32, strict: bool): i32 {
  const vb = f32x4.splat(bound);
  let tally = i32x4.splat(0);
  let j = 0;
  // A true lane is all ones (−1), so subtracting the mask counts it.
  if (strict) for (; j + 4 <= length; j += 4) tally = i32x4.sub(tally, f32x4.gt(v128.load(column + (<usize>j << 2)), vb));
  else for (; j + 4 <= length; j += 4) tally = i32x4.sub(tally, f32x4.ge(v128.load(column + (<usize>j << 2)), vb));
  let total = sumLanes(tally);
  for (; j < length; j++) {
    const c = load<f32>(column + (<usize>j << 2));
    if (strict ? c > bound : c >= bound) total++;
  }
  return total;
}

// One row, scalar (tails and non-finite values); returns 1 if it was finite, else 0.
function countRow(column: usize, length: i32, r: f32): i32 {
  if (!columnFinite || !isFinite(r)) {
    // Products such as 0·∞ are NaN (not counted): bin each one.
    for (let j = 0; j < length; j++) {
      const product = gScale * (r * load<f32>(column + (<usize>j << 2)));
      if (product == product) addCount(gCounts, scalarBin(product), 1);
    }
    return 0;
  }
  if (negatives > 0) countGroup(column, length, r, negativeMin, negativeMax, negatives, false);
  if (positives > 0) countGroup(column, length, r, positiveMin, positiveMax, positives, true);
  return 1;
}

function countGroup(column: usize, length: i32, r: f32, least: f32, greatest: f32, size: i32, positive: bool): void {
  const p = gScale * (r * least);
  const q = gScale * (r * greatest);
  const lowBin = scalarBin(min(p, q));
  const highBin = scalarBin(max(p, q));
  if (lowBin == highBin) addCount(gCounts, lowBin, <f64>size);
  else countCrossing(column, length, r, size, positive, lowBin, highBin);
}

// Cockpit's GradHist2d: a gradient value clamps to the centres of the extreme x bins and bins as
// trunc((x − lo)/w) in float32; its parameter's y bin is precomputed (yBins, one i32 per
// element). NaNs are not counted. Counts are [xbins·ybins], x major.
let hLo: f32 = 0;
let hWidth: f32 = 0;
let hMin: f32 = 0;
let hMax: f32 = 0;
let hYBins: i32 = 0;
let hCounts: usize = 0;
// Four u32 sub-histograms, [bin][lane]: each vector lane counts into its own slot, so equal bins
// in neighbouring elements (most gradients sit in a few central bins) do not chain their
// increments through one memory location. Folded into the float64 counts after each row, so a
// slot never holds more than a row's elements.
let hLanes: usize = 0;
let hBinCount: i32 = 0;

function setHistogram2d(lo: f32, width: f32, xmin: f32, xmax: f32, ybins: i32, counts: usize, bins: i32, lanes: usize): void {
  hLo = lo;
  hWidth = width;
  hMin = xmin;
  hMax = xmax;
  hYBins = ybins;
  setLanes(counts, bins, lanes);
}

// Zeroes the sub-histograms at `lanes`, which foldLanes adds into the float64 `counts`.
function setLanes(counts: usize, bins: i32, lanes: usize): void {
  hCounts = counts;
  hBinCount = bins;
  hLanes = lanes;
  memory.fill(lanes, 0, <usize>bins << 4);
}

@inline
function laneCount(bin: i32, lane: i32): void {
  const at = hLanes + ((<usize>bin << 4) | (<usize>lane << 2));
  store<u32>(at, load<u32>(at) + 1);
}

function foldLanes(): void {
  for (let b = 0; b < hBinCount; b++) {
    const at = hLanes + (<usize>b << 4);
    const lanes = v128.load(at);
    const total = <u64>i32x4.extract_lane(lanes, 0) + <u64>i32x4.extract_lane(lanes, 1) + <u64>i32x4.extract_lane(lanes, 2) + <u64>i32x4.extract_lane(lanes, 3);
    if (total == 0) continue;
    addCount(hCounts, b, <f64>total);
    v128.store(at, i32x4.splat(0));
  }
}

@inline
function count2d(x: f32, yBin: i32): void {
  if (x != x) return;
  addCount(hCounts, <i32>((min(max(x, hMin), hMax) - hLo) / hWidth) * hYBins + yBin, 1);
}

// Four values against four y bins; the same float32 operations as count2d.
@inline
function count2dLanes(x: v128, yBins: v128): void {
  if (v128.any_true(f32x4.ne(x, x))) {
    count2d(f32x4.extract_lane(x, 0), i32x4.extract_lane(yBins, 0));
    count2d(f32x4.extract_lane(x, 1), i32x4.extract_lane(yBins, 1));
    count2d(f32x4.extract_lane(x, 2), i32x4.extract_lane(yBins, 2));
    count2d(f32x4.extract_lane(x, 3), i32x4.extract_lane(yBins, 3));
    return;
  }
  // Clamped to the end bins' centres, the quotient is positive and below the bin count.
  const clamped = f32x4.pmin(f32x4.pmax(x, f32x4.splat(hMin)), f32x4.splat(hMax));
  const ix = truncInRange(f32x4.div(f32x4.sub(clamped, f32x4.splat(hLo)), f32x4.splat(hWidth)));
  const index = i32x4.add(i32x4.mul(ix, i32x4.splat(hYBins)), yBins);
  laneCount(i32x4.extract_lane(index, 0), 0);
  laneCount(i32x4.extract_lane(index, 1), 1);
  laneCount(i32x4.extract_lane(index, 2), 2);
  laneCount(i32x4.extract_lane(index, 3), 3);
}

/** GradHist2d counts of `rows` gradient rows of `size` values, each paired with the same y bins. */
export function histogram2d(values: usize, rows: i32, size: i32, yBins: usize, lo: f32, width: f32, xmin: f32, xmax: f32, ybins: i32, counts: usize, bins: i32, lanes: usize): void {
  setHistogram2d(lo, width, xmin, xmax, ybins, counts, bins, lanes);
  for (let r = 0; r < rows; r++) {
    const row = values + ((<usize>r * size) << 2);
    let j = 0;
    for (; j + 4 <= size; j += 4) count2dLanes(v128.load(row + (<usize>j << 2)), v128.load(yBins + (<usize>j << 2)));
    for (; j < size; j++) count2d(load<f32>(row + (<usize>j << 2)), load<i32>(yBins + (<usize>j << 2)));
    foldLanes();
  }
}

/**
 * GradHist2d counts of rank-one per-sample gradients fl(s·fl(δ_io·a_ik)) paired with the y bin
 * of element (o, k), without forming them (Linear weights; a bias is the case of one a = 1).
 * A zero δ_io (a unit ReLU switched off) makes its whole row 0 when a_i is finite: such rows are
 * only tallied per o in `zeroRows` (outFeatures u32) and binned with their y bins once at the end.
 */
export function rankOneHistogram2d(
  delta: usize, activations: usize, yBins: usize, batch: i32, outFeatures: i32, inFeatures: i32, scale: f32,
  lo: f32, width: f32, xmin: f32, xmax: f32, ybins: i32, counts: usize, bins: i32, lanes: usize, zeroRows: usize,
): void {
  setHistogram2d(lo, width, xmin, xmax, ybins, counts, bins, lanes);
  memory.fill(zeroRows, 0, <usize>outFeatures << 2);
  const s = f32x4.splat(scale);
  for (let i = 0; i < batch; i++) {
    const a = activations + ((<usize>i * inFeatures) << 2);
    const finite = allFinite(a, inFeatures);
    for (let o = 0; o < outFeatures; o++) {
      const scalarDelta = load<f32>(delta + ((<usize>i * outFeatures + o) << 2));
      if (scalarDelta == 0 && finite) {
        const at = zeroRows + (<usize>o << 2);
        store<u32>(at, load<u32>(at) + 1);
        continue;
      }
      const d = f32x4.splat(scalarDelta);
      const ys = yBins + ((<usize>o * inFeatures) << 2);
      let k = 0;
      for (; k + 4 <= inFeatures; k += 4) count2dLanes(f32x4.mul(s, f32x4.mul(d, v128.load(a + (<usize>k << 2)))), v128.load(ys + (<usize>k << 2)));
      for (; k < inFeatures; k++) count2d(scale * (scalarDelta * load<f32>(a + (<usize>k << 2))), load<i32>(ys + (<usize>k << 2)));
    }
    foldLanes();
  }
  // fl(s·fl(0·a)) is ±0, which count2d bins as 0.
  const zeroBase = <i32>((min(max(<f32>0, hMin), hMax) - hLo) / hWidth) * hYBins;
  for (let o = 0; o < outFeatures; o++) {
    const rows = load<u32>(zeroRows + (<usize>o << 2));
    if (rows == 0) continue;
    const ys = yBins + ((<usize>o * inFeatures) << 2);
    for (let k = 0; k < inFeatures; k++) addCount(hCounts, zeroBase + load<i32>(ys + (<usize>k << 2)), <f64>rows);
  }
}

// Whether all n values are finite (x − x is 0 only for finite x).
function allFinite(values: usize, n: i32): bool {
  let bad = i32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const v = v128.load(values + (<usize>j << 2));
    bad = v128.or(bad, f32x4.ne(f32x4.sub(v, v), f32x4.splat(0)));
  }
  if (v128.any_true(bad)) return false;
  for (; j < n; j++) if (!isFinite(load<f32>(values + (<usize>j << 2)))) return false;
  return true;
}
