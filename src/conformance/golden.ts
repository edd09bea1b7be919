import { readFileSync } from "node:fs";
import { tensor } from "../engine/creation.ts";
import type { Tensor } from "../engine/tensor.ts";

/** A tensor as the golden files store it (row-major `data`, PyTorch dtype). */
export interface GoldenTensor {
  shape: number[];
  dtype: "float32" | "float64" | "int64" | "bool";
  data: Array<number | string>;
}

/** A golden JSON file: metadata plus a list of named cases. */
export interface GoldenFile<Case> {
  generator: string;
  variant: string;
  cases: Case[];
}

/** Parses a golden number; non-finite values are written as strings. */
export function goldenNumber(value: number | string): number {
  if (typeof value === "number") return value;
  if (value === "NaN") return Number.NaN;
  if (value === "Infinity") return Number.POSITIVE_INFINITY;
  if (value === "-Infinity") return Number.NEGATIVE_INFINITY;
  throw new TypeError(`gradscope: unexpected number ${JSON.stringify(value)} in golden data`);
}

/** The values of a golden tensor as doubles. */
export function goldenValues(t: GoldenTensor): number[] {
  return t.data.map(goldenNumber);
}

/** An engine tensor holding a golden tensor (int64 and bool become int32). */
export function toTensor(t: GoldenTensor): Tensor {
  const integral = t.dtype === "int64" || t.dtype === "bool";
  return tensor(goldenValues(t), t.shape, integral ? "int32" : "float32");
}

/** Reads and parses a golden file, naming the path on failure. */
export function readGolden<Case>(path: string): GoldenFile<Case> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as GoldenFile<Case>;
  } catch (error) {
    throw new Error(`gradscope: cannot read golden file ${path}: ${(error as Error).message}`);
  }
}
