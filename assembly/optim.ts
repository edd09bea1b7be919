import { madd } from "./simd";

// In-place optimizer updates over n float32 elements, four lanes at a time with a scalar tail
// doing the same arithmetic. They follow torch.optim's single-tensor formulas in float32;
// scalars that PyTorch computes in double (bias corrections, step sizes) arrive as f32.
// `flags` bits are documented per kernel.

const MAXIMIZE: i32 = 1;

@inline
function lane(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// The effective gradient: ±g plus L2 weight decay wd·p.
@inline
function effectiveGradient(g: v128, p: v128, wd: v128, maximize: bool): v128 {
  const signed = maximize ? f32x4.neg(g) : g;
  return madd(wd, p, signed);
}

@inline
function effectiveGradientScalar(g: f32, p: f32, wd: f32, maximize: bool): f32 {
  return (maximize ? -g : g) + wd * p;
}

// The Adam-family moments: m ← m + (1−β1)(d − m) and v ← β2·v + (1−β2)·d², stored back;
// each returns the new value. 1 − β1 and 1 − β2 arrive computed in double, as PyTorch computes
// them before rounding to float32: 1 − β in float32 is another number (1 − 0.9f = 0.100000024).
@inline
function firstMoment(d: v128, m: usize, oneMinusBeta1: v128): v128 {
  const mv = v128.load(m);
  const m1 = madd(oneMinusBeta1, f32x4.sub(d, mv), mv);
  v128.store(m, m1);
  return m1;
}

// v follows PyTorch's exp_avg_sq.mul_(β2).addcmul_(d, d, value=1−β2) rounding by rounding:
// β2·v, then ((1−β2)·d)·d, then the sum, with no fused step.
@inline
function secondMoment(d: v128, v: usize, beta2: v128, oneMinusBeta2: v128): v128 {
  const v1 = f32x4.add(f32x4.mul(beta2, v128.load(v)), f32x4.mul(f32x4.mul(oneMinusBeta2, d), d));
  v128.store(v, v1);
  return v1;
}

@inline
function firstMomentScalar(d: f32, m: usize, oneMinusBeta1: f32): f32 {
  const mv = load<f32>(m);
  const m1 = mv + oneMinusBeta1 * (d - mv);
  store<f32>(m, m1);
  return m1;
}

@inline
function secondMomentScalar(d: f32, v: usize, beta2: f32, oneMinusBeta2: f32): f32 {
  const v1 = beta2 * load<f32>(v) + oneMinusBeta2 * d * d;
  store<f32>(v, v1);
  return v1;
}

/**
 * SGD. flags: 1 maximize, 2 momentum on, 4 nesterov, 8 first step (buffer = gradient, no
 * dampening). d = scale·(±g + wd·p) (scale is LARS's trust ratio, 1 for SGD);
 * buf = momentum·buf + (1 − dampening)·d; d = nesterov ? d + momentum·buf : buf; p −= lr·d.
 */
export function sgdUpdate(n: i32, p: usize, g: usize, buf: usize, lr: f32, momentum: f32, dampening: f32, wd: f32, scale: f32, flags: i32): void {
  const maximize = (flags & MAXIMIZE) != 0;
  const useMomentum = (flags & 2) != 0;
  const nesterov = (flags & 4) != 0;
  const first = (flags & 8) != 0;
  const vlr = f32x4.splat(-lr);
  const vwd = f32x4.splat(wd);
  const vm = f32x4.splat(momentum);
  const vd = f32x4.splat(1 - dampening);
  const vscale = f32x4.splat(scale);
  const scaled = scale != 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const pv = v128.load(lane(p, i));
    let d = effectiveGradient(v128.load(lane(g, i)), pv, vwd, maximize);
    if (scaled) d = f32x4.mul(d, vscale);
    if (useMomentum) {
      const b = first ? d : madd(vm, v128.load(lane(buf, i)), f32x4.mul(vd, d));
      v128.store(lane(buf, i), b);
      d = nesterov ? madd(vm, b, d) : b;
    }
    v128.store(lane(p, i), madd(vlr, d, pv));
  }
  for (; i < n; i++) {
    const pv = load<f32>(lane(p, i));
    let d = effectiveGradientScalar(load<f32>(lane(g, i)), pv, wd, maximize);
    if (scaled) d *= scale;
    if (useMomentum) {
      const b = first ? d : momentum * load<f32>(lane(buf, i)) + (1 - dampening) * d;
      store<f32>(lane(buf, i), b);
      d = nesterov ? d + momentum * b : b;
    }
    store<f32>(lane(p, i), pv - lr * d);
  }
}

/**
 * Adam / AdamW. flags: 1 maximize, 2 amsgrad. p *= decay first (AdamW's 1 − lr·wd; 1 for
 * Adam), then m ← m + (1−β1)(d − m), v ← β2·v + (1−β2)·d², v̂ = max(v̂, v) with amsgrad, and
 * p −= stepSize·m / (sqrt(v)/bc2Sqrt + eps).
 */
export function adamUpdate(
  n: i32, p: usize, g: usize, m: usize, v: usize, vmax: usize,
  stepSize: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32, wd: f32, decay: f32, bc2Sqrt: f32, flags: i32,
): void {
  const maximize = (flags & MAXIMIZE) != 0;
  const amsgrad = (flags & 2) != 0;
  const vwd = f32x4.splat(wd), vdecay = f32x4.splat(decay), vb1 = f32x4.splat(oneMinusBeta1);
  const vb2 = f32x4.splat(beta2), vb2c = f32x4.splat(oneMinusBeta2), vbc = f32x4.splat(bc2Sqrt);
  const veps = f32x4.splat(eps), vstep = f32x4.splat(-stepSize);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const pv = f32x4.mul(v128.load(lane(p, i)), vdecay);
    const d = effectiveGradient(v128.load(lane(g, i)), pv, vwd, maximize);
    const m1 = firstMoment(d, lane(m, i), vb1);
    const v1 = secondMoment(d, lane(v, i), vb2, vb2c);
    let second = v1;
    if (amsgrad) {
      second = f32x4.max(v128.load(lane(vmax, i)), v1);
      v128.store(lane(vmax, i), second);
    }
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(second), vbc), veps);
    v128.store(lane(p, i), f32x4.add(pv, f32x4.div(f32x4.mul(vstep, m1), denom)));
  }
  for (; i < n; i++) {
    const pv = load<f32>(lane(p, i)) * decay;
    const d = effectiveGradientScalar(load<f32>(lane(g, i)), pv, wd, maximize);
    const m1 = firstMomentScalar(d, lane(m, i), oneMinusBeta1);
    const v1 = secondMomentScalar(d, lane(v, i), beta2, oneMinusBeta2);
    let second = v1;
    if (amsgrad) {
      second = max(load<f32>(lane(vmax, i)), v1);
      store<f32>(lane(vmax, i), second);
    }
    store<f32>(lane(p, i), pv + (-stepSize * m1) / (sqrt<f32>(second) / bc2Sqrt + eps));
  }
}

/**
 * RMSprop. flags: 1 maximize, 2 centered, 4 momentum on. sq ← α·sq + (1−α)·d²; centered:
 * avg ← avg + (1−α)(d − avg), denom = sqrt(sq − avg²) + eps, else sqrt(sq) + eps; with
 * momentum buf ← μ·buf + d/denom and p −= lr·buf, else p −= lr·d/denom.
 */
export function rmspropUpdate(n: i32, p: usize, g: usize, sq: usize, avg: usize, buf: usize, lr: f32, alpha: f32, eps: f32, wd: f32, momentum: f32, flags: i32): void {
  const maximize = (flags & MAXIMIZE) != 0;
  const centered = (flags & 2) != 0;
  const useMomentum = (flags & 4) != 0;
  const va = f32x4.splat(alpha), vac = f32x4.splat(1 - alpha), veps = f32x4.splat(eps);
  const vwd = f32x4.splat(wd), vm = f32x4.splat(momentum), vlr = f32x4.splat(-lr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const pv = v128.load(lane(p, i));
    const d = effectiveGradient(v128.load(lane(g, i)), pv, vwd, maximize);
    const s = madd(vac, f32x4.mul(d, d), f32x4.mul(va, v128.load(lane(sq, i))));
    v128.store(lane(sq, i), s);
    let inner = s;
    if (centered) {
      const av = v128.load(lane(avg, i));
      const a1 = madd(vac, f32x4.sub(d, av), av);
      v128.store(lane(avg, i), a1);
      inner = f32x4.sub(s, f32x4.mul(a1, a1));
    }
    const denom = f32x4.add(f32x4.sqrt(inner), veps);
    if (useMomentum) {
      const b = f32x4.add(f32x4.mul(vm, v128.load(lane(buf, i))), f32x4.div(d, denom));
      v128.store(lane(buf, i), b);
      v128.store(lane(p, i), madd(vlr, b, pv));
    } else {
      v128.store(lane(p, i), f32x4.add(pv, f32x4.div(f32x4.mul(vlr, d), denom)));
    }
  }
  for (; i < n; i++) {
    const pv = load<f32>(lane(p, i));
    const d = effectiveGradientScalar(load<f32>(lane(g, i)), pv, wd, maximize);
    const s = alpha * load<f32>(lane(sq, i)) + (1 - alpha) * (d * d);
    store<f32>(lane(sq, i), s);
    let inner = s;
    if (centered) {
      const av = load<f32>(lane(avg, i));
      const a1 = av + (1 - alpha) * (d - av);
      store<f32>(lane(avg, i), a1);
      inner = s - a1 * a1;
    }
    const denom = sqrt<f32>(inner) + eps;
    if (useMomentum) {
      const b = momentum * load<f32>(lane(buf, i)) + d / denom;
      store<f32>(lane(buf, i), b);
      store<f32>(lane(p, i), pv - lr * b);
    } else {
      store<f32>(lane(p, i), pv + (-lr * d) / denom);
    }
  }
}

/** Adagrad. flags: 1 maximize. sum ← sum + d²; p −= clr·d / (sqrt(sum) + eps). */
export function adagradUpdate(n: i32, p: usize, g: usize, sum: usize, clr: f32, eps: f32, wd: f32, flags: i32): void {
  const maximize = (flags & MAXIMIZE) != 0;
  const vwd = f32x4.splat(wd), veps = f32x4.splat(eps), vlr = f32x4.splat(-clr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const pv = v128.load(lane(p, i));
    const d = effectiveGradient(v128.load(lane(g, i)), pv, vwd, maximize);
    const s = madd(d, d, v128.load(lane(sum, i)));
    v128.store(lane(sum, i), s);
    v128.store(lane(p, i), f32x4.add(pv, f32x4.div(f32x4.mul(vlr, d), f32x4.add(f32x4.sqrt(s), veps))));
  }
  for (; i < n; i++) {
    const pv = load<f32>(lane(p, i));
    const d = effectiveGradientScalar(load<f32>(lane(g, i)), pv, wd, maximize);
    const s = load<f32>(lane(sum, i)) + d * d;
    store<f32>(lane(sum, i), s);
    store<f32>(lane(p, i), pv + (-clr * d) / (sqrt<f32>(s) + eps));
  }
}

/**
 * NAdam. flags: 1 maximize. p *= decay (decoupled decay; else 1), m and v as Adam, denom =
 * sqrt(v / bc2) + eps, p += gradCoef·d/denom, then p += avgCoef·m/denom (PyTorch's two
 * addcdiv_ calls).
 */
export function nadamUpdate(
  n: i32, p: usize, g: usize, m: usize, v: usize,
  oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32, wd: f32, decay: f32, bc2: f32, gradCoef: f32, avgCoef: f32, flags: i32,
): void {
  const maximize = (flags & MAXIMIZE) != 0;
  const vwd = f32x4.splat(wd), vdecay = f32x4.splat(decay), vb1 = f32x4.splat(oneMinusBeta1);
  const vb2 = f32x4.splat(beta2), vb2c = f32x4.splat(oneMinusBeta2), vbc = f32x4.splat(bc2), veps = f32x4.splat(eps);
  const vgc = f32x4.splat(gradCoef), vac = f32x4.splat(avgCoef);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const pv = f32x4.mul(v128.load(lane(p, i)), vdecay);
    const d = effectiveGradient(v128.load(lane(g, i)), pv, vwd, maximize);
    const m1 = firstMoment(d, lane(m, i), vb1);
    const v1 = secondMoment(d, lane(v, i), vb2, vb2c);
    const denom = f32x4.add(f32x4.sqrt(f32x4.div(v1, vbc)), veps);
    const afterGrad = f32x4.add(pv, f32x4.div(f32x4.mul(vgc, d), denom));
    v128.store(lane(p, i), f32x4.add(afterGrad, f32x4.div(f32x4.mul(vac, m1), denom)));
  }
  for (; i < n; i++) {
    const pv = load<f32>(lane(p, i)) * decay;
    const d = effectiveGradientScalar(load<f32>(lane(g, i)), pv, wd, maximize);
    const m1 = firstMomentScalar(d, lane(m, i), oneMinusBeta1);
    const v1 = secondMomentScalar(d, lane(v, i), beta2, oneMinusBeta2);
    const denom = sqrt<f32>(v1 / bc2) + eps;
    store<f32>(lane(p, i), pv + (gradCoef * d) / denom + (avgCoef * m1) / denom);
  }
}

/**
 * RAdam. flags: 1 maximize, 2 rectified. p *= decay, m and v as Adam; rectified:
 * p −= (m/bc1)·lr·(bc2Sqrt/(sqrt(v) + eps))·rect, else p −= (m/bc1)·lr.
 */
export function radamUpdate(
  n: i32, p: usize, g: usize, m: usize, v: usize,
  lr: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32, wd: f32, decay: f32, bc1: f32, bc2Sqrt: f32, rect: f32, flags: i32,
): void {
  const maximize = (flags & MAXIMIZE) != 0;
  const rectified = (flags & 2) != 0;
  const vwd = f32x4.splat(wd), vdecay = f32x4.splat(decay), vb1 = f32x4.splat(oneMinusBeta1);
  const vb2 = f32x4.splat(beta2), vb2c = f32x4.splat(oneMinusBeta2), veps = f32x4.splat(eps);
  const vbc1 = f32x4.splat(bc1), vlr = f32x4.splat(lr), vbc2 = f32x4.splat(bc2Sqrt), vrect = f32x4.splat(rect);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const pv = f32x4.mul(v128.load(lane(p, i)), vdecay);
    const d = effectiveGradient(v128.load(lane(g, i)), pv, vwd, maximize);
    const m1 = firstMoment(d, lane(m, i), vb1);
    const v1 = secondMoment(d, lane(v, i), vb2, vb2c);
    let delta = f32x4.mul(f32x4.div(m1, vbc1), vlr);
    if (rectified) delta = f32x4.mul(f32x4.mul(delta, f32x4.div(vbc2, f32x4.add(f32x4.sqrt(v1), veps))), vrect);
    v128.store(lane(p, i), f32x4.sub(pv, delta));
  }
  for (; i < n; i++) {
    const pv = load<f32>(lane(p, i)) * decay;
    const d = effectiveGradientScalar(load<f32>(lane(g, i)), pv, wd, maximize);
    const m1 = firstMomentScalar(d, lane(m, i), oneMinusBeta1);
    const v1 = secondMomentScalar(d, lane(v, i), beta2, oneMinusBeta2);
    let delta = (m1 / bc1) * lr;
    if (rectified) delta = delta * (bc2Sqrt / (sqrt<f32>(v1) + eps)) * rect;
    store<f32>(lane(p, i), pv - delta);
  }
}

/** x *= alpha. */
export function scaleInPlace(n: i32, x: usize, alpha: f32): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(lane(x, i), f32x4.mul(v128.load(lane(x, i)), a));
  for (; i < n; i++) store<f32>(lane(x, i), load<f32>(lane(x, i)) * alpha);
}

/** x = clamp(x, lo, hi). */
export function clampInPlace(n: i32, x: usize, lo: f32, hi: f32): void {
  const vlo = f32x4.splat(lo), vhi = f32x4.splat(hi);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(lane(x, i), f32x4.min(f32x4.max(v128.load(lane(x, i)), vlo), vhi));
  for (; i < n; i++) store<f32>(lane(x, i), min(max(load<f32>(lane(x, i)), lo), hi));
}

/** max |x_i| (NaN if any element is NaN). */
export function maxAbs(n: i32, x: usize): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) acc = f32x4.max(acc, f32x4.abs(v128.load(lane(x, i))));
  let result = max(max(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)), max(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)));
  for (; i < n; i++) result = max(result, abs<f32>(load<f32>(lane(x, i))));
  return result;
}
