import type { Random } from "../engine/random.ts";
import type { ParameterSpec } from "./spec.ts";

/** A range parameter (one with min, max and a distribution). */
export type RangeSpec = Extract<ParameterSpec, { min: number }>;

/** A trial's parameters: dotted config path → value. */
export type Params = Record<string, unknown>;

/**
 * A range parameter's search space as an interval of reals: log_uniform is searched in log
 * space, and int_uniform / q_uniform over an interval widened by half a step at each end, so
 * that rounding gives every value the same share of it.
 */
export function interval(range: RangeSpec): [number, number] {
  switch (range.distribution) {
    case "log_uniform":
      return [Math.log(range.min), Math.log(range.max)];
    case "int_uniform":
      return [range.min - 0.5, range.max + 0.5];
    case "q_uniform": {
      const q = range.q as number;
      return [range.min - q / 2, range.min + Math.floor((range.max - range.min) / q + 1e-9) * q + q / 2];
    }
    default:
      return [range.min, range.max];
  }
}

/** The parameter value at a point `x` of its `interval`. */
export function valueAt(range: RangeSpec, x: number): number {
  const [lo, hi] = interval(range);
  const clamped = Math.min(Math.max(x, lo), hi);
  switch (range.distribution) {
    case "log_uniform":
      return Math.min(Math.max(Math.exp(clamped), range.min), range.max);
    case "int_uniform":
      return Math.min(Math.max(Math.round(clamped), range.min), range.max);
    case "q_uniform": {
      const q = range.q as number;
      const steps = Math.min(Math.max(Math.round((clamped - range.min) / q), 0), Math.floor((range.max - range.min) / q + 1e-9));
      // Rounded to the step's decimals, so that 0.1-steps print as 0.3, not 0.30000000000000004.
      return Number((range.min + steps * q).toPrecision(12));
    }
    default:
      return clamped;
  }
}

/** The point of a value in its parameter's `interval` (the inverse of `valueAt`). */
export const pointOf = (range: RangeSpec, value: number) => (range.distribution === "log_uniform" ? Math.log(value) : value);

/** One value drawn from a parameter: a uniform choice among `values`, or from the range's distribution. */
export function sampleParameter(parameter: ParameterSpec, random: Random): unknown {
  if ("values" in parameter) return parameter.values[random.integer(parameter.values.length)];
  const [lo, hi] = interval(parameter);
  return valueAt(parameter, lo + random.uniform() * (hi - lo));
}

/** Every parameter drawn independently, in the order the sweep file lists them. */
export function sampleParams(parameters: Record<string, ParameterSpec>, random: Random): Params {
  return Object.fromEntries(Object.entries(parameters).map(([path, p]) => [path, sampleParameter(p, random)]));
}

/** The values a grid takes of a parameter: its `values`, or every whole number of an int_uniform range. */
function gridValues(parameter: ParameterSpec): unknown[] {
  if ("values" in parameter) return parameter.values;
  if (parameter.distribution !== "int_uniform") throw new Error(`gradscope: grid search cannot enumerate a ${parameter.distribution} range`);
  return Array.from({ length: parameter.max - parameter.min + 1 }, (_, i) => parameter.min + i);
}

/** Every combination of the parameters' grid values; the last parameter varies fastest. */
export function gridPoints(parameters: Record<string, ParameterSpec>): Params[] {
  let points: Params[] = [{}];
  for (const [path, parameter] of Object.entries(parameters)) points = points.flatMap((point) => gridValues(parameter).map((value) => ({ ...point, [path]: value })));
  return points;
}
