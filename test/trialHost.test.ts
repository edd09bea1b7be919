import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { TrialHost } from "../src/sweep/trialHost.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-trial-host-"));

test("a trial whose log file cannot be written is refused by its worker, naming the file, and no host is started", async () => {
  const host = new TrialHost(join(folder, "gradscope.db"), "finish");
  const logFile = join(folder, "removed", "trial-001.log");
  let started = false;
  await assert.rejects(
    host.train({ sweepId: "nosweep", trial: 1, threads: 1, logFile }, () => {
      started = true;
    }),
    new RegExp(`^Error: gradscope: trial 1's log file ${logFile} cannot be written: ENOENT`),
  );
  assert.equal(started, false);
  assert.equal(existsSync(join(folder, "removed")), false);
  await host.close();
});

test("a trial whose log folder is removed as its host starts ends that attempt (code 1) and leaves its worker running", async () => {
  const host = new TrialHost(join(folder, "gradscope.db"), "finish");
  const logs = join(folder, "removed-later");
  mkdirSync(logs);
  // The host cannot open the log for the trial's output, and its dying words cannot reach it either.
  const exit = await host.train({ sweepId: "nosweep", trial: 1, threads: 1, logFile: join(logs, "trial-001.log") }, () => rmSync(logs, { recursive: true }));
  assert.deepEqual(exit, { code: 1, signal: null });
  await host.close();
});
