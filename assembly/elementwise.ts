import { madd } from "./simd";

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

/** Σ x_i·y_i, four float32 accumulators (a pairwise-like sum that also rounds less than one). */
export function dot(n: i32, x: usize, y: usize): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
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
