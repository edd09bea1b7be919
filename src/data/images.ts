/** [C, H, W] of image inputs, or an error naming the transform `name` and the shape it got. */
export function imageShape(name: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 3) throw new RangeError(`gradscope: transform ${name} needs image inputs [C, H, W], got [${shape.join(", ")}]`);
  return [shape[0], shape[1], shape[2]];
}

/** The output shape of an image transform `name` that keeps its input's: checked to be an image's. */
export const imageOutputShape =
  (name: string) =>
  (shape: readonly number[]): number[] => [...imageShape(name, shape)];

/** Checks a probability option of transform `name`. */
export function checkProbability(name: string, option: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`gradscope: transform ${name}: ${option} must be in [0, 1], got ${p}`);
}

/** Checks a [low, high] option of transform `name` (low ≤ high, both at least `min`). */
export function checkRange(name: string, option: string, range: readonly [number, number], min = Number.NEGATIVE_INFINITY): void {
  const [low, high] = range;
  if (!(low >= min && high >= low)) throw new RangeError(`gradscope: transform ${name}: ${option} must be [low, high] with ${min} <= low <= high, got [${range.join(", ")}]`);
}

/** Uniform in [low, high). */
export function uniformIn(random: { uniform(): number }, low: number, high: number): number {
  return low + (high - low) * random.uniform();
}
