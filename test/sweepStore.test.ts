// The sweep tables of a run store, on both backends (SQLite and PostgreSQL run the same
// statements): sweeps and trials, successive halving's rungs, the claims and heartbeats of
// `gradscope worker`, the release of a trial whose worker died, and trials' checkpoints.
import assert from "node:assert/strict";
import { test } from "node:test";
import { openRunStore } from "../src/store/openRunStore.ts";
import { RunLookupError } from "../src/store/runStore.ts";
import { openSweepStore } from "../src/store/sweeps.ts";
import { storeBackends } from "./storeBackends.ts";

const spec = { method: "grid", metric: { name: "val_loss", goal: "minimize" }, retries: 1 };

for (const backend of storeBackends)
  test(`${backend.name}: a sweep and its trials are recorded and read back, by id or a unique prefix; rung values by trial`, { skip: backend.skip }, () => {
    const location = backend.location("sweep-rows");
    const store = openSweepStore(location);
    try {
      store.createSweep({ id: "lr-20261207-1", name: "lr", spec, base: { training: { epochs: 2 } }, directory: "/tmp/lr" });
      store.createSweep({ id: "lr-20261207-2", name: "lr", spec, base: {}, directory: "/tmp/lr2" });
      assert.equal(store.hasSweep("lr-20261207-1"), true);
      assert.equal(store.hasSweep("lr-2026"), false);
      assert.deepEqual(store.getSweep("lr-20261207-1").base, { training: { epochs: 2 } });
      assert.equal(store.getSweep("lr-20261207-2").directory, "/tmp/lr2");
      assert.throws(
        () => store.getSweep("lr-2026"),
        (error: Error) => error instanceof RunLookupError && /matches 2 sweeps \(lr-20261207-1, lr-20261207-2\)/.test(error.message),
      );
      assert.throws(() => store.getSweep("nope"), /no sweep "nope" in /);
      store.addTrial("lr-20261207-1", 1, { "optimizer.lr": 0.1 });
      store.addTrial("lr-20261207-1", 2, { "optimizer.lr": 1 });
      store.startTrial("lr-20261207-1", 1);
      store.attachRun("lr-20261207-1", 1, { runId: "run-1", directory: "/tmp/runs/run-1", plannedSteps: 40 });
      store.finishTrial("lr-20261207-1", 1, { status: "completed", metric: 0.25, steps: 40 });
      store.finishTrial("lr-20261207-1", 2, { status: "failed", metric: Number.NaN, message: "diverged" });
      const [first, second] = store.trials("lr-20261207-1");
      assert.deepEqual(
        { status: first.status, attempts: first.attempts, runId: first.runId, metric: first.metric, steps: first.steps, plannedSteps: first.plannedSteps, params: first.params },
        { status: "completed", attempts: 1, runId: "run-1", metric: 0.25, steps: 40, plannedSteps: 40, params: { "optimizer.lr": 0.1 } },
      );
      assert.deepEqual([second.status, second.metric, second.message], ["failed", null, "diverged"]);
      assert.throws(() => store.trial("lr-20261207-1", 3), /sweep lr-20261207-1 has no trial 3/);
      store.recordRung("lr-20261207-1", 1, 1, 0.5);
      store.recordRung("lr-20261207-1", 1, 2, Number.NaN);
      store.recordRung("lr-20261207-1", 1, 1, 0.4);
      assert.deepEqual(
        store.rungValues("lr-20261207-1", 1),
        new Map([
          [1, 0.4],
          [2, null],
        ]),
      );
      store.addTrial("lr-20261207-2", 1, { "optimizer.lr": 0.1 });
      store.addTrial("lr-20261207-2", 2, { "optimizer.lr": 0.2 });
      store.finishTrial("lr-20261207-2", 2, { status: "interrupted", message: "the sweep was stopped" });
      store.finishSweep("lr-20261207-2", "interrupted");
      assert.deepEqual(store.reopenSweep("lr-20261207-2"), [2], "its interrupted trials, to queue again");
      assert.deepEqual(
        store.trials("lr-20261207-2").map((t) => [t.status, t.message, t.endedAt]),
        [
          ["pending", null, null],
          ["pending", null, null],
        ],
      );
      store.finishSweep("lr-20261207-1", "completed");
      assert.deepEqual(
        store
          .listSweeps()
          .map((s) => [s.id, s.status])
          .sort(),
        [
          ["lr-20261207-1", "completed"],
          ["lr-20261207-2", "running"],
        ],
      );
    } finally {
      store.close();
    }
  });

for (const backend of storeBackends)
  test(`${backend.name}: a worker claims a pending trial once; a stale one is released to pending (its run marked crashed) by one caller; a worker gives its trial back`, {
    skip: backend.skip,
  }, () => {
    const location = backend.location("sweep-claims");
    const runs = openRunStore(location);
    const store = openSweepStore(location);
    const other = openSweepStore(location);
    try {
      store.createSweep({ id: "s", name: "s", spec, base: {}, directory: "/tmp/s" });
      store.addTrial("s", 1, {});
      const a = { worker: "host-a:11", jobId: "job-1" };
      assert.equal(store.claimTrial("s", 1, { ...a, staleAfterSeconds: 30 }), true);
      assert.equal(other.claimTrial("s", 1, { worker: "host-b:22", jobId: "job-1", staleAfterSeconds: 30 }), false, "a live worker's trial is not taken");
      assert.equal(store.heartbeat("s", 1, a), true);
      assert.deepEqual(
        store.releaseStaleTrials(() => 30),
        [],
        "a fresh heartbeat is not stale",
      );
      runs.createRun({ id: "run-s1", name: "s-t001", config: {} });
      store.attachRun("s", 1, { runId: "run-s1", directory: "/tmp/runs/run-s1", plannedSteps: 10 });
      // With no time allowed, the heartbeat is stale at once: both callers look, one releases.
      const released = [...store.releaseStaleTrials(() => -1), ...other.releaseStaleTrials(() => -1)];
      assert.deepEqual(
        released.map(({ sweepId, number, worker, jobId }) => ({ sweepId, number, worker, jobId })),
        [{ sweepId: "s", number: 1, worker: "host-a:11", jobId: "job-1" }],
      );
      const pending = store.trial("s", 1);
      assert.deepEqual([pending.status, pending.worker, pending.attempts], ["pending", null, 1]);
      assert.equal(store.heartbeat("s", 1, a), false, "the released trial is no longer the first worker's");
      assert.equal(runs.getRun("run-s1").status, "crashed");
      assert.ok(runs.events("run-s1").some((e) => e.kind === "crash" && /its worker host-a:11 stopped heartbeating/.test(e.message)));
      const b = { worker: "host-b:22", jobId: "job-2" };
      assert.equal(other.claimTrial("s", 1, { ...b, staleAfterSeconds: 30 }), true);
      assert.equal(other.trial("s", 1).attempts, 2);
      assert.equal(store.returnTrial("s", 1, a, "its process died"), false, "only the trial's worker gives it back");
      assert.equal(other.returnTrial("s", 1, b, "its process died"), true);
      assert.deepEqual([store.trial("s", 1).status, store.trial("s", 1).worker], ["pending", null]);
      store.finishTrial("s", 1, { status: "completed" });
      assert.equal(store.claimTrial("s", 1, { ...a, staleAfterSeconds: 30 }), false, "an ended trial is not claimed");
    } finally {
      store.close();
      other.close();
      runs.close();
    }
  });

for (const backend of storeBackends)
  test(`${backend.name}: a run's latest checkpoint is kept in the store byte for byte, replacing the one before, and deleted with the run`, { skip: backend.skip }, () => {
    const location = backend.location("sweep-checkpoints");
    const runs = openRunStore(location);
    const store = openSweepStore(location);
    try {
      runs.createRun({ id: "run-c", name: "c", config: {} });
      assert.equal(store.latestCheckpoint("run-c"), null);
      const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 7) & 255);
      store.saveCheckpoint("run-c", 10, bytes(1000, 3));
      store.saveCheckpoint("run-c", 20, bytes(300_000, 5));
      const latest = store.latestCheckpoint("run-c");
      assert.equal(latest?.step, 20);
      assert.deepEqual(new Uint8Array(latest?.data ?? []), bytes(300_000, 5));
      runs.deleteRun("run-c");
      assert.equal(store.latestCheckpoint("run-c"), null);
    } finally {
      store.close();
      runs.close();
    }
  });
