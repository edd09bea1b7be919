import { quantityDefinitions } from "../quantities/registry.ts";
import type { QuantitySubscriber } from "../quantities/tracker.ts";
import { StoreUnreachableError } from "../store/postgres/connectionLost.ts";
import type { SweepStore } from "../store/sweeps.ts";
import type { Callback, Logs } from "../train/callback.ts";
import type { Trainer } from "../train/trainer.ts";
import { continuesPastRung, RuleMonitor, ruleLabel } from "./rules.ts";
import type { RuleSpec } from "./spec.ts";

/** Successive halving as a trial applies it. */
export interface TrialRungs {
  epochs: number[];
  reductionFactor: number;
  metric: string;
  goal: "minimize" | "maximize";
}

/** The prefix of the reason a trial stopped by the sweep gives (its run's stop event). */
export const SWEEP_STOP = "stopped by the sweep: ";

// Bookkeeping fields of the logs that are not measurements.
const bookkeeping = new Set(["epoch", "batch", "step", "size", "tracked"]);

/**
 * A trial's early stopping, inside the trial's trainer: feeds the diagnostic rules each step's
 * logs (as `train_<log>`), each epoch's logs and the tracker's quantity values (by config name),
 * and at each rung records the trial's metric in the sweep store and compares it with the other
 * trials' there. The first rule that fires stops the trial after the current step, with the rule
 * as the reason (`stoppedBy`).
 */
export class SweepTrialCallback implements Callback {
  readonly name = "sweep";
  /** The rule (or rung) that stopped the trial, once one did. */
  stoppedBy: string | null = null;
  private trainer: Trainer | null = null;
  private readonly monitor: RuleMonitor;
  // The step at which each step log was last fed to the rules (each is fed once per step).
  private readonly observedAtStep = new Map<string, number>();
  private readonly configNames = new Map(quantityDefinitions().map((d) => [d.name, d.configName]));
  // A rung reached while the store was unreachable, not yet compared.
  private pendingRung: { epoch: number; value: number } | null = null;

  constructor(
    rules: RuleSpec[],
    private readonly rungs: TrialRungs | null,
    private readonly sweep: { store: SweepStore; sweepId: string; trial: number },
  ) {
    this.monitor = new RuleMonitor(rules);
  }

  /** A tracker subscriber: `tracker.subscribe(callback.observeQuantity)`. */
  readonly observeQuantity: QuantitySubscriber = (step, name, value) => {
    const configName = this.configNames.get(name);
    if (configName !== undefined && typeof value === "number") this.check(this.monitor.observe("quantity", configName, step, value));
  };

  private check(rule: RuleSpec | null): void {
    if (rule) this.stop(ruleLabel(rule));
  }

  private stop(why: string): void {
    if (this.stoppedBy !== null || !this.trainer) return;
    this.stoppedBy = why;
    this.trainer.requestStop(`${SWEEP_STOP}${why}`);
  }

  onTrainBegin(trainer: Trainer): void {
    this.trainer = trainer;
    // A rung the store could not take before the last attempt stopped: compared now, before training on past it.
    const pending = this.pendingRung;
    if (pending) this.compareAtRung(pending.epoch, pending.value);
  }

  // Before the optimizer applies the step, so that a rule on a NaN loss stops before the NaN
  // guard fails the trial; the logs added after the step (lr) at the batch's end.
  onBackwardEnd(_trainer: Trainer, logs: Logs): void {
    this.observeStep(logs);
  }

  onBatchEnd(_trainer: Trainer, logs: Logs): void {
    this.observeStep(logs);
  }

  private observeStep(logs: Logs): void {
    for (const [key, value] of Object.entries(logs)) {
      if (bookkeeping.has(key) || this.observedAtStep.get(key) === logs.step) continue;
      this.observedAtStep.set(key, logs.step);
      this.check(this.monitor.observe("metric", `train_${key}`, logs.step, value));
    }
  }

  onEpochEnd(_trainer: Trainer, logs: Logs): void {
    for (const [key, value] of Object.entries(logs)) if (!bookkeeping.has(key)) this.check(this.monitor.observe("metric", key, logs.step, value));
    const rungs = this.rungs;
    if (!rungs || this.stoppedBy !== null || !rungs.epochs.includes(logs.epoch)) return;
    const value = logs[rungs.metric];
    if (value === undefined)
      throw new Error(`gradscope: the sweep's rungs compare "${rungs.metric}", which the epoch logs do not have (they have ${Object.keys(logs).join(", ")})`);
    this.compareAtRung(logs.epoch, value);
  }

  // Records the trial's value at a rung and stops it unless it is among the best there. With the
  // store unreachable, the rung waits in the checkpoint (the trial stops, see TrialStoreOutage)
  // and is compared when the trial resumes.
  private compareAtRung(epoch: number, value: number): void {
    const rungs = this.rungs as TrialRungs;
    const { store, sweepId, trial } = this.sweep;
    let atRung: Array<number | null>;
    try {
      store.recordRung(sweepId, epoch, trial, value);
      atRung = [...store.rungValues(sweepId, epoch).values()];
    } catch (error) {
      if (!(error instanceof StoreUnreachableError)) throw error;
      this.pendingRung = { epoch, value };
      return;
    }
    this.pendingRung = null;
    if (!continuesPastRung(value, atRung, rungs.reductionFactor, rungs.goal))
      this.stop(`asha rung at epoch ${epoch}: ${rungs.metric} ${value.toPrecision(4)} not in the best 1/${rungs.reductionFactor} of ${atRung.length} trials`);
  }

  stateDict(): unknown {
    return { rules: this.monitor.stateDict(), pendingRung: this.pendingRung };
  }

  loadStateDict(state: unknown): void {
    const saved = state as { rules?: unknown; pendingRung?: { epoch: number; value: number } | null } | null;
    this.monitor.loadStateDict(saved?.rules);
    this.pendingRung = saved?.pendingRung ?? null;
  }
}
