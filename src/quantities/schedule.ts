/** When a quantity is due: a predicate on the (0-based) optimizer step. */
export type StepSchedule = (step: number) => boolean;

/** Every `interval` steps from `offset` on (Cockpit's `linear(interval, offset)`). */
export function every(interval: number, offset = 0): StepSchedule {
  if (!Number.isInteger(interval) || interval < 1) throw new RangeError(`gradscope: schedule every: interval must be a positive integer, got ${interval}`);
  return (step) => step >= offset && (step - offset) % interval === 0;
}

/**
 * `count` steps spaced logarithmically between `start` and `end` (Cockpit's
 * `logarithmic(start, end, steps)`, rounded to integers and deduplicated; step 0 always included).
 */
export function logarithmic(start: number, end: number, count = 300): StepSchedule {
  if (!(start >= 0 && end > start)) throw new RangeError(`gradscope: schedule logarithmic: need 0 <= start < end, got ${start}, ${end}`);
  const due = new Set<number>([0]);
  const [a, b] = [Math.log10(Math.max(start, 1)), Math.log10(end)];
  for (let i = 0; i < count; i++) due.add(Math.round(10 ** (a + ((b - a) * i) / Math.max(count - 1, 1))));
  return (step) => due.has(step);
}

/** Exactly the listed steps. */
export function atSteps(list: readonly number[]): StepSchedule {
  const due = new Set(list);
  return (step) => due.has(step);
}
