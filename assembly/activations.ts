// Pointwise activations on four lanes with a scalar tail, for ops without a WASM instruction:
// exp (Cephes' expf: 2^n·e^r with a degree-6 polynomial, about 1 ulp), and tanh and sigmoid
// built on it. Op codes: 0 exp, 1 tanh, 2 sigmoid, 3 leaky_relu (param = slope), 4 sqrt.

// e^x overflows above log(FLT_MAX) and is below the normal range under −87.3 (PyTorch then
// returns subnormals; these lanes flush to 0 below −88.38).
const EXP_HI: f32 = 88.72283935546875;
const EXP_LO: f32 = -88.3762626647949;

@inline
function expLanes(v: v128): v128 {
  const x = f32x4.min(f32x4.max(v, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const n = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(0.5)));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n as 2^(n>>1)·2^(n−(n>>1)), so that n = 128 (just below overflow) stays representable.
  const whole = i32x4.trunc_sat_f32x4_s(n);
  const half = i32x4.shr_s(whole, 1);
  const first = i32x4.shl(i32x4.add(half, i32x4.splat(127)), 23);
  const second = i32x4.shl(i32x4.add(i32x4.sub(whole, half), i32x4.splat(127)), 23);
  const result = f32x4.mul(f32x4.mul(y, first), second);
  // Beyond the clamp the true value is 0 or ∞; NaN stays NaN through the arithmetic above.
  const under = f32x4.lt(v, f32x4.splat(EXP_LO));
  const over = f32x4.gt(v, f32x4.splat(EXP_HI));
  return v128.bitselect(f32x4.splat(Infinity), v128.bitselect(f32x4.splat(0), result, under), over);
}

@inline
function tanhLanes(v: v128): v128 {
  const a = f32x4.abs(v);
  // Small |x|: Cephes' odd polynomial; otherwise 1 − 2/(e^{2|x|} + 1) with the sign restored.
  const z = f32x4.mul(v, v);
  let p = f32x4.splat(-5.70498872745e-3);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.06390887954e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-5.37397155531e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(1.33314422036e-1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), v), v);
  const large = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(expLanes(f32x4.add(a, a)), f32x4.splat(1))));
  const signed = v128.or(large, v128.and(v, f32x4.splat(-0.0)));
  return v128.bitselect(small, signed, f32x4.lt(a, f32x4.splat(0.625)));
}

@inline
function sigmoidLanes(v: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), expLanes(f32x4.neg(v))));
}

@inline
function forwardLanes(op: i32, v: v128, param: f32): v128 {
  if (op == 0) return expLanes(v);
  if (op == 1) return tanhLanes(v);
  if (op == 2) return sigmoidLanes(v);
  if (op == 3) return v128.bitselect(v, f32x4.mul(v, f32x4.splat(param)), f32x4.gt(v, f32x4.splat(0)));
  return f32x4.sqrt(v);
}

/** y = f(x) for `op` (see the op codes above). */
export function activationForward(op: i32, x: usize, y: usize, n: i32, param: f32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const at = <usize>i << 2;
    v128.store(y + at, forwardLanes(op, v128.load(x + at), param));
  }
  if (i < n) {
    // The tail goes through the same lane code on a zero-padded copy, so every element agrees.
    const scratch = memory.data(32, 16);
    v128.store(scratch, f32x4.splat(0));
    for (let k = 0; i + k < n; k++) store<f32>(scratch + (<usize>k << 2), load<f32>(x + (<usize>(i + k) << 2)));
    v128.store(scratch + 16, forwardLanes(op, v128.load(scratch), param));
    for (let k = 0; i + k < n; k++) store<f32>(y + (<usize>(i + k) << 2), load<f32>(scratch + 16 + (<usize>k << 2)));
  }
}

@inline
function derivativeLanes(op: i32, x: v128, y: v128, param: f32): v128 {
  if (op == 0) return y;
  if (op == 1) return f32x4.sub(f32x4.splat(1), f32x4.mul(y, y));
  if (op == 2) return f32x4.mul(y, f32x4.sub(f32x4.splat(1), y));
  if (op == 3) return v128.bitselect(f32x4.splat(1), f32x4.splat(param), f32x4.gt(x, f32x4.splat(0)));
  return f32x4.div(f32x4.splat(0.5), y);
}

/** dx = dy · f′ from the input x and the output y. */
export function activationBackward(op: i32, x: usize, y: usize, dy: usize, dx: usize, n: i32, param: f32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const at = <usize>i << 2;
    v128.store(dx + at, f32x4.mul(v128.load(dy + at), derivativeLanes(op, v128.load(x + at), v128.load(y + at), param)));
  }
  for (; i < n; i++) {
    const at = <usize>i << 2;
    const derivative = f32x4.extract_lane(derivativeLanes(op, f32x4.splat(load<f32>(x + at)), f32x4.splat(load<f32>(y + at)), param), 0);
    store<f32>(dx + at, load<f32>(dy + at) * derivative);
  }
}
