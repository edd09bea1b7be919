import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const copy = fileURLToPath(new URL("../reference", import.meta.url));
const script = fileURLToPath(new URL("../scripts/reference.ts", import.meta.url));
const check = (source: string) => spawnSync(process.execPath, ["--import", "tsx", script, "check", source], { encoding: "utf8" });

test("the golden data the tests read are inside the repository, with the README that states their provenance", () => {
  const files = readdirSync(copy);
  for (const name of ["README.md", "layers.json", "losses.json", "optimizers.json", "schedulers.json", "metrics.json", "quantities.json", "models.json"]) {
    assert.ok(files.includes(name), `reference/${name}`);
  }
});

test("the reference check passes on an equal original and names the file that differs or is missing", () => {
  const original = mkdtempSync(join(tmpdir(), "gradscope-reference-"));
  try {
    cpSync(copy, original, { recursive: true });
    const same = check(original);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /equal/);

    appendFileSync(join(original, "losses.json"), " ");
    rmSync(join(original, "metrics.json"));
    const stale = check(original);
    assert.equal(stale.status, 1);
    assert.match(stale.stderr, /reference\/losses\.json differs/);
    assert.match(stale.stderr, /reference\/metrics\.json is not in/);
  } finally {
    rmSync(original, { recursive: true, force: true });
  }
});
