/** Tolerance of an elementwise check |actual − expected| ≤ atol + rtol·|expected|. */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/** The outcome of comparing one named quantity. */
export interface Comparison {
  what: string;
  maxAbs: number;
  maxRel: number;
  pass: boolean;
  detail?: string;
}

/** Compares two equally long lists of numbers (NaN matches NaN, ±∞ must match exactly). */
export function compareValues(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: Tolerance): Comparison {
  if (actual.length !== expected.length) {
    return { what, maxAbs: Number.POSITIVE_INFINITY, maxRel: Number.POSITIVE_INFINITY, pass: false, detail: `length ${actual.length}, expected ${expected.length}` };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let pass = true;
  let worst = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) {
        pass = false;
        worst = i;
      }
      continue;
    }
    const abs = Math.abs(a - e);
    if (!(abs <= tolerance.atol + tolerance.rtol * Math.abs(e))) {
      pass = false;
      if (worst < 0) worst = i;
    }
    if (!(abs <= maxAbs)) maxAbs = Number.isNaN(abs) ? Number.POSITIVE_INFINITY : abs;
    if (e !== 0) maxRel = Math.max(maxRel, abs / Math.abs(e));
  }
  return { what, maxAbs, maxRel, pass, detail: pass ? undefined : `first failure at index ${worst}: ${actual[worst]} vs ${expected[worst]}` };
}
