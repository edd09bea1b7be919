import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import ts from "typescript";
import { backward } from "../src/engine/autograd.ts";
import { parameter } from "../src/engine/creation.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { MIGRATIONS } from "../src/store/database.ts";

/** Asserts |a − e| ≤ atol + rtol·|e| elementwise, naming the first offending index. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const ok = Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]);
    assert.ok(ok, `${what}[${i}]: ${actual[i]} vs expected ${expected[i]}`);
  }
}

/** Deterministic N(0, 1) values. */
export function randomValues(count: number, seed: number): number[] {
  const random = new Random(seed);
  return Array.from({ length: count }, () => random.normal());
}

/**
 * Checks autodiff against central finite differences (in float64 on float32 inputs) of
 * S = Σ f(x)·w for a fixed random w, for every input shape given.
 */
export function checkGradients(f: (...inputs: Tensor[]) => Tensor, shapes: number[][], seed = 1, tolerance = 2e-2): void {
  const values = shapes.map((shape, i) =>
    randomValues(
      shape.reduce((a, b) => a * b, 1),
      seed + i,
    ),
  );
  const objective = (inputs: number[][]): number =>
    scope(() => {
      const tensors = inputs.map((v, i) => parameter(v, shapes[i]));
      const out = f(...tensors);
      const weights = randomValues(out.size, 999);
      return out.toArray().reduce((s, v, k) => s + v * weights[k], 0);
    });
  const analytic = scope(() => {
    const tensors = values.map((v, i) => parameter(v, shapes[i]));
    const out = f(...tensors);
    const weights = randomValues(out.size, 999);
    const seedGradient = parameter(weights, out.shape);
    seedGradient.requiresGrad = false;
    backward(out, { gradient: seedGradient });
    return tensors.map((t) => t.grad?.toArray() ?? new Array(t.size).fill(0));
  });
  const h = 1e-2;
  values.forEach((v, i) => {
    for (let k = 0; k < v.length; k++) {
      const plus = values.map((x) => x.slice());
      const minus = values.map((x) => x.slice());
      plus[i][k] += h;
      minus[i][k] -= h;
      const numeric = (objective(plus) - objective(minus)) / (2 * h);
      const a = analytic[i][k];
      assert.ok(Math.abs(a - numeric) <= tolerance * (1 + Math.abs(numeric)), `input ${i} element ${k}: autodiff ${a} vs finite difference ${numeric}`);
    }
  });
}

/**
 * A run store at schema `version` as an older gradscope left it, holding one completed run
 * `runId`, open for filling in with rows.
 */
export function storeAtVersion(path: string, version: number, runId: string): Database.Database {
  const db = new Database(path);
  for (const migration of MIGRATIONS.slice(0, version)) db.exec(migration);
  db.pragma(`user_version = ${version}`);
  db.prepare("INSERT INTO runs (id, name, status, config, started_at) VALUES (?, ?, 'completed', '{}', 0)").run(runId, runId);
  return db;
}

/** The TypeScript files under `folder`, at any depth. */
export function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts"))
    .map((name) => join(folder, name));
}

/** Calls `visit` with every node of a TypeScript file's syntax tree (comments are not nodes). */
export function walkSyntax(file: string, visit: (node: ts.Node) => void): void {
  const walk = (node: ts.Node): void => {
    visit(node);
    ts.forEachChild(node, walk);
  };
  walk(ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true));
}
