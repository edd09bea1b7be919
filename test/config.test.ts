import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../src/config/load.ts";
import { configJsonSchema, quantitiesSchema } from "../src/config/schema.ts";
import { createQuantities, quantityNames } from "../src/quantities/index.ts";
import { configurations } from "../src/quantities/registry.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-config-"));
const file = (name: string, text: string) => {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
};

const base = file(
  "base.yaml",
  `seed: 3
model: { arch: mlp, hidden: [8], classes: 2 }
data:
  source: spirals
  samples: 200
training:
  epochs: 2
optimizer: { name: sgd, lr: 0.1, momentum: 0.9 }
`,
);

test("extends, repeated files and overrides merge in order; defaults fill the rest", () => {
  const child = file("child.yaml", "extends: base.yaml\ntraining:\n  epochs: 4\ndata:\n  batch_size: 16\n");
  const extra = file("extra.yaml", "optimizer: { lr: 0.05 }\n");
  const { config, locate } = loadConfig([child, extra], ["training.epochs=7", "data.transforms=[{type: flatten}]"]);
  assert.equal(config.seed, 3);
  assert.equal(config.training.epochs, 7);
  assert.equal(config.data.batch_size, 16);
  assert.deepEqual(config.optimizer, { name: "sgd", lr: 0.05, momentum: 0.9 });
  assert.equal(config.data.eval_batch_size, 1000);
  assert.equal(locate(["optimizer", "momentum"]), `${base}:8:44`); // the value 0.9 in base.yaml
  assert.equal(locate(["training", "epochs"]), 'command-line override "training.epochs=7"');
  // Swapping the optimizer replaces its options instead of merging SGD's momentum into Adam.
  assert.deepEqual(loadConfig([base], ["optimizer={name: adam}"]).config.optimizer, { name: "adam" });
});

test("options set on a quantities configuration name go onto the quantities it names; a later name replaces a map", () => {
  const tweaked = loadConfig([base], ["quantities=business", "quantities.grad_hist_1d.per_parameter=true", "quantities.hess_trace.every=4"]);
  // The config fills in the options' defaults; what was written (raw) keeps only the merge.
  assert.deepEqual((tweaked.config.quantities as Record<string, unknown>).grad_hist_1d, { per_parameter: true, bins: 100, range: [-2, 2] });
  assert.deepEqual(tweaked.raw.quantities, {
    ...Object.fromEntries(configurations.business.map((name) => [name, true])),
    grad_hist_1d: { per_parameter: true },
    hess_trace: { every: 4 },
  });
  const fromFile = file("tweak.yaml", "extends: base.yaml\nquantities: economy\n");
  assert.deepEqual(Object.keys(loadConfig([fromFile], ["quantities.alpha=false"]).config.quantities as object).sort(), [...configurations.economy].sort());
  assert.equal((loadConfig([fromFile], ["quantities.alpha=false"]).config.quantities as Record<string, unknown>).alpha, false);
  assert.equal(loadConfig([base], ["quantities={loss: true}", "quantities=full"]).config.quantities, "full");
  assert.throws(
    () => loadConfig([base], ["quantities=ful", "quantities.loss=true"]),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^quantities: unknown quantities configuration "ful" \(did you mean "full"\?\)/);
      return true;
    },
  );
});

test("quantities errors name the quantity's field, its place and a close name (several at once were 'quantities: Invalid input')", () => {
  const bad = file(
    "quantities.yaml",
    "extends: base.yaml\nquantities:\n  norm_tset: true\n  hess_trace: { curvature: diag_x }\n  grad_hist_1d: { rnage: [0, 1], bins: 0 }\n  alpha: 3\n",
  );
  assert.throws(
    () => loadConfig([bad]),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`${bad}:3:3: quantities.norm_tset: unknown key \\(did you mean "norm_test"\\?\\)`));
      assert.match(
        error.message,
        new RegExp(`${bad}:4:28: quantities.hess_trace.curvature: got "diag_x" \\(did you mean "diag_h"\\?\\); expected one of diag_h, diag_ggn_exact, diag_ggn_mc`),
      );
      assert.match(
        error.message,
        new RegExp(`${bad}:5:19: quantities.grad_hist_1d.rnage: unknown key \\(did you mean "range"\\?\\); known: every, offset, logarithmic, steps, bins, range`),
      );
      assert.match(error.message, new RegExp(`${bad}:5:40: quantities.grad_hist_1d.bins: Too small`));
      assert.match(error.message, new RegExp(`${bad}:6:10: quantities.alpha: expected boolean or object, received number`));
      return true;
    },
  );
  assert.throws(() => loadConfig([base], ["quantities=econmy"]), /quantities: got "econmy" \(did you mean "economy"\?\); expected one of economy, business, full/);
});

test("errors name file:line:col, the field and what was expected, with a did-you-mean for unknown keys", () => {
  const bad = file("bad.yaml", "extends: base.yaml\ntraining:\n  epochs: three\n  lerning_rate: 3\noptimizer:\n  name: adamm\ndata:\n  source: spiral\n");
  assert.throws(
    () => loadConfig([bad]),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`${bad}:3:11: training.epochs: expected number, received string`));
      assert.match(error.message, new RegExp(`${bad}:4:3: training.lerning_rate: unknown key; known: epochs`));
      assert.match(error.message, new RegExp(`${bad}:6:9: optimizer.name: got "adamm" \\(did you mean "adam"\\?\\)`));
      assert.match(error.message, new RegExp(`${bad}:8:11: data.source: got "spiral" \\(did you mean "spirals"\\?\\)`));
      return true;
    },
  );
  const typo = file("typo.yaml", "extends: base.yaml\noptimizer: { name: adam, weight_decy: 0.1 }\n");
  assert.throws(() => loadConfig([typo]), /typo.yaml:2:26: optimizer.weight_decy: unknown key \(did you mean "weight_decay"\?\)/);
  assert.throws(() => loadConfig([file("broken.yaml", "model: [1,\n")]), /broken.yaml:2:1: invalid YAML/);
  assert.throws(() => loadConfig([join(folder, "nope.yaml")]), /nope.yaml: config file not found/);
  assert.throws(() => loadConfig([base], ["training.epochs"]), /override "training.epochs": expected key.path=value/);
  assert.throws(() => loadConfig([file("cycle.yaml", "extends: cycle.yaml\n")]), /extends cycle/);
  assert.throws(() => loadConfig([base], ["training.epochs=0"]), /override "training.epochs=0": training.epochs: Too small/);
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
test("${ENV} substitution, with defaults, and an error naming the place of a missing variable", () => {
  process.env.GRADSCOPE_TEST_LR = "0.25";
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
  const withEnv = file("env.yaml", 'extends: base.yaml\nname: "run-${GRADSCOPE_TEST_LR}"\ntraining:\n  runs_dir: "${GRADSCOPE_NO_SUCH_VAR:-/tmp/elsewhere}"\n');
  const { config } = loadConfig([withEnv]);
  assert.equal(config.name, "run-0.25");
  assert.equal(config.training.runs_dir, "/tmp/elsewhere");
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
  const missing = file("missing.yaml", "extends: base.yaml\nname: ${GRADSCOPE_NO_SUCH_VAR}\n");
  assert.throws(() => loadConfig([missing]), /missing.yaml:2:7: environment variable GRADSCOPE_NO_SUCH_VAR is not set/);
});

test("the JSON Schema describes every section and each optimizer's options", () => {
  const schema = configJsonSchema() as { properties: Record<string, { oneOf?: Array<{ properties: Record<string, unknown> }> }>; additionalProperties: boolean };
  for (const section of ["model", "data", "training", "optimizer", "scheduler", "callbacks", "loggers", "seed"]) assert.ok(section in schema.properties, section);
  assert.equal(schema.additionalProperties, false);
  const adam = schema.properties.optimizer.oneOf?.find((o) => JSON.stringify(o.properties.name).includes('"adam"'));
  assert.ok(adam && "weight_decay" in adam.properties && "amsgrad" in adam.properties);
});

test("the quantities section takes every quantity gradscope has, with its options (the curvature ones were missing)", () => {
  const section = {
    ...Object.fromEntries(quantityNames().map((name) => [name, true])),
    hess_trace: { every: 10, curvature: "diag_ggn_mc", seed: 3 },
    hess_max_ev: { every: 50, max_iterations: 40, rtol: 1e-3 },
    grad_hist_2d: { adapt: { x: { policy: "grad_abs_max", padding: 0.1 }, y: null } },
  };
  const parsed = quantitiesSchema().safeParse(section);
  assert.ok(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues));
  assert.equal(createQuantities(parsed.data as Record<string, boolean | Record<string, unknown>>, 1).length, quantityNames().length);
  assert.equal(quantitiesSchema().safeParse({ hess_trace: { curvature: "diag_x" } }).success, false);
});
