import { Random } from "../engine/random.ts";
import { type Dataset, Subset } from "./dataset.ts";

/** A seeded permutation of 0..n−1 (Fisher–Yates). */
export function permutation(n: number, random: Random): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.integer(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * Splits off a seeded random `fraction` of the examples: [rest, split]. The same seed gives the
 * same split, so a resumed run validates on the same examples.
 */
export function splitDataset(dataset: Dataset, fraction: number, seed: number, names: [string, string] = ["train", "validation"]): [Dataset, Dataset] {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`gradscope: split fraction must be in (0, 1), got ${fraction}`);
  const order = permutation(dataset.length, new Random(seed));
  const splitSize = Math.max(1, Math.round(dataset.length * fraction));
  const keep = order.slice(0, dataset.length - splitSize).sort();
  const split = order.slice(dataset.length - splitSize).sort();
  return [new Subset(dataset, keep, `${dataset.description} (${names[0]} part)`), new Subset(dataset, split, `${dataset.description} (${names[1]} part)`)];
}
