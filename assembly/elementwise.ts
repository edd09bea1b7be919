import { madd, storeTransposed4x4 } from "./simd";

// Vector loops with a scalar tail; n counts float32 elements, pointers are byte offsets.

/** y = max(x, 0); NaN propagates, as torch.relu does. */
export function reluForward(x: usize, y: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(y + offset, f32x4.max(v128.load(x + offset), zero));
  }
  for (; i < n; i++) {
    store<f32>(y + (<usize>i << 2), max<f32>(load<f32>(x + (<usize>i << 2)), 0));
  }
}

/** dx = x > 0 ? dy : 0 (relu'(0) = 0, as in PyTorch). */
export function reluBackward(x: usize, dy: usize, dx: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const positive = f32x4.gt(v128.load(x + offset), zero);
    v128.store(dx + offset, v128.and(v128.load(dy + offset), positive));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(dx + offset, load<f32>(x + offset) > 0 ? load<f32>(dy + offset) : 0);
  }
}

/** y += alpha · x. */
export function axpy(n: i32, alpha: f32, x: usize, y: usize): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    v128.store(y + offset, madd(a, v128.load(x + offset), v128.load(y + offset)));
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    store<f32>(y + offset, load<f32>(y + offset) + alpha * load<f32>(x + offset));
  }
}

/**
 * Σ x_i·y_i in float32. Four independent vector accumulators (sixteen lanes) keep four
 * multiply-adds in flight instead of waiting on one chain, and also round less than one sum.
 */
export function dot(n: i32, x: usize, y: usize): f32 {
  let acc = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  let acc3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const offset = <usize>i << 2;
    acc = madd(v128.load(x + offset), v128.load(y + offset), acc);
    acc1 = madd(v128.load(x + offset, 16), v128.load(y + offset, 16), acc1);
    acc2 = madd(v128.load(x + offset, 32), v128.load(y + offset, 32), acc2);
    acc3 = madd(v128.load(x + offset, 48), v128.load(y + offset, 48), acc3);
  }
  acc = f32x4.add(f32x4.add(acc, acc1), f32x4.add(acc2, acc3));
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    acc = madd(v128.load(x + offset), v128.load(y + offset), acc);
  }
  let total = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  for (; i < n; i++) total += load<f32>(x + (<usize>i << 2)) * load<f32>(y + (<usize>i << 2));
  return total;
}

/** out[r] = Σ_j x[r·length + j] for each of `rows` rows (four lanes, then a scalar tail). */
export function rowSums(x: usize, rows: i32, length: i32, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = x + ((<usize>r * length) << 2);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= length; j += 4) acc = f32x4.add(acc, v128.load(row + (<usize>j << 2)));
    let total = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    for (; j < length; j++) total += load<f32>(row + (<usize>j << 2));
    store<f32>(out + (<usize>r << 2), total);
  }
}

@inline
function combine(op: i32, a: v128, b: v128): v128 {
  if (op == 0) return f32x4.add(a, b);
  if (op == 1) return f32x4.sub(a, b);
  if (op == 2) return f32x4.mul(a, b);
  return f32x4.div(a, b);
}

@inline
function combineScalar(op: i32, a: f32, b: f32): f32 {
  if (op == 0) return a + b;
  if (op == 1) return a - b;
  if (op == 2) return a * b;
  return a / b;
}

/**
 * out[i] = a[i] ∘ b[⌊i / inner⌋ mod period] over n elements, ∘ = add, sub, mul, div (op 0–3):
 * the same-shape (period n), scalar (period 1) and trailing-broadcast cases of binary ops
 * (inner 1), and b broadcast along trailing axes too, such as a per-channel [C, 1, 1] against
 * NCHW (inner H·W), where each b value covers a run of `inner` elements.
 */
export function binaryPeriodic(op: i32, a: usize, b: usize, out: usize, n: i32, period: i32, inner: i32): void {
  if (inner > 1) {
    for (let start = 0, r = 0; start < n; start += inner, r++) {
      const scalar = load<f32>(b + (<usize>(r % period) << 2));
      const vb = f32x4.splat(scalar);
      const runA = a + (<usize>start << 2);
      const runOut = out + (<usize>start << 2);
      let j = 0;
      for (; j + 4 <= inner; j += 4) v128.store(runOut + (<usize>j << 2), combine(op, v128.load(runA + (<usize>j << 2)), vb));
      for (; j < inner; j++) store<f32>(runOut + (<usize>j << 2), combineScalar(op, load<f32>(runA + (<usize>j << 2)), scalar));
    }
    return;
  }
  if (period == 1) {
    const scalar = load<f32>(b);
    const vb = f32x4.splat(scalar);
    let i = 0;
    for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), combine(op, v128.load(a + (<usize>i << 2)), vb));
    for (; i < n; i++) store<f32>(out + (<usize>i << 2), combineScalar(op, load<f32>(a + (<usize>i << 2)), scalar));
    return;
  }
  for (let start = 0; start < n; start += period) {
    const rowA = a + (<usize>start << 2);
    const rowOut = out + (<usize>start << 2);
    let j = 0;
    for (; j + 4 <= period; j += 4) v128.store(rowOut + (<usize>j << 2), combine(op, v128.load(rowA + (<usize>j << 2)), v128.load(b + (<usize>j << 2))));
    for (; j < period; j++) store<f32>(rowOut + (<usize>j << 2), combineScalar(op, load<f32>(rowA + (<usize>j << 2)), load<f32>(b + (<usize>j << 2))));
  }
}

/** dst = src over n floats (a bulk memory copy). */
export function copyFloats(n: i32, src: usize, dst: usize): void {
  memory.copy(dst, src, <usize>n << 2);
}

/** dst[j] += sign · Σ_b src[b·n + j]² over `blocks` consecutive blocks of n floats. */
export function sumSquaresInto(n: i32, blocks: i32, src: usize, dst: usize, sign: f32): void {
  const s = f32x4.splat(sign);
  const blockBytes = <usize>n << 2;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const offset = <usize>j << 2;
    let acc = f32x4.splat(0);
    for (let b = 0; b < blocks; b++) {
      const v = v128.load(src + <usize>b * blockBytes + offset);
      acc = madd(v, v, acc);
    }
    v128.store(dst + offset, madd(s, acc, v128.load(dst + offset)));
  }
  for (; j < n; j++) {
    const offset = <usize>j << 2;
    let acc: f32 = 0;
    for (let b = 0; b < blocks; b++) {
      const v = load<f32>(src + <usize>b * blockBytes + offset);
      acc += v * v;
    }
    store<f32>(dst + offset, load<f32>(dst + offset) + sign * acc);
  }
}

/** dst = srcᵀ for a rows x cols row-major float32 (or int32) matrix; 4x4 blocks go through registers. */
export function transpose(src: usize, rows: i32, cols: i32, dst: usize): void {
  const rowBytes = <usize>cols << 2;
  const outRowBytes = <usize>rows << 2;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const from = src + <usize>i * rowBytes;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const at = from + (<usize>j << 2);
      storeTransposed4x4(v128.load(at), v128.load(at + rowBytes), v128.load(at + 2 * rowBytes), v128.load(at + 3 * rowBytes), dst + <usize>j * outRowBytes + (<usize>i << 2), outRowBytes);
    }
    for (; j < cols; j++) {
      for (let r = 0; r < 4; r++) store<i32>(dst + <usize>j * outRowBytes + (<usize>(i + r) << 2), load<i32>(from + <usize>r * rowBytes + (<usize>j << 2)));
    }
  }
  for (; i < rows; i++) {
    for (let j = 0; j < cols; j++) store<i32>(dst + <usize>j * outRowBytes + (<usize>i << 2), load<i32>(src + <usize>i * rowBytes + (<usize>j << 2)));
  }
}
