import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runConformance } from "../src/conformance/run.ts";

const reference = fileURLToPath(new URL("../reference", import.meta.url));

test("every layers, losses, optimizers, schedulers, metrics, quantities and models case matches PyTorch/scikit-learn within the README's tolerances", () => {
  const { results } = runConformance(reference);
  const failures = results.filter((r) => r.status === "fail");
  assert.deepEqual(
    failures.map((f) => `${f.file} ${f.name}: ${f.failures.map((x) => `${x.what} ${x.detail}`).join("; ")}`),
    [],
  );
  const byFile = (file: string) => results.filter((r) => r.file === file && r.status === "pass").length;
  assert.equal(byFile("layers.json"), 33, "all 33 layer cases covered and passing");
  assert.equal(byFile("losses.json"), 5, "all 5 loss cases covered and passing");
  assert.equal(byFile("optimizers.json"), 24, "all 20 optimizer trajectories and 4 clipping cases covered and passing");
  assert.equal(byFile("schedulers.json"), 10, "all 10 scheduler cases covered and passing");
  assert.equal(byFile("metrics.json"), 2, "both metric cases covered and passing");
  // Every quantity of the four Cockpit runs, curvature included, on every step.
  assert.equal(byFile("quantities.json"), 4, "all 4 Cockpit runs pass");
  // 9 model-zoo blocks and tiny models (outputs, every gradient, running statistics, eval
  // outputs; the per-tensor atol check included), 10 activations and 2 adaptive poolings.
  assert.equal(byFile("models.json"), 21, "all 21 models cases covered and passing");
  assert.deepEqual(
    results.filter((r) => r.note).map((r) => `${r.name}: ${r.note}`),
    [],
    "no quantity of any case is left uncovered",
  );
});
