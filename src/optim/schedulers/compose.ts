import type { BaseHyper, Optimizer } from "../optimizer.ts";
import { HyperCheck } from "../validate.ts";
import type { LRScheduler, Schedule, SchedulerState } from "./scheduler.ts";

/**
 * Runs schedulers one after another, switching at the milestone epochs (torch SequentialLR),
 * e.g. a linear warmup then cosine annealing. Each scheduler restarts from its own epoch 0
 * at its milestone. Config name `sequential`.
 */
export class SequentialLR implements Schedule {
  private lastEpoch = 0;

  constructor(
    readonly optimizer: Optimizer<BaseHyper>,
    readonly schedulers: LRScheduler[],
    readonly milestones: number[],
  ) {
    const check = new HyperCheck("SequentialLR").require(schedulers.length >= 1, "schedulers", "a non-empty list", schedulers.length);
    check.require(milestones.length === schedulers.length - 1, "milestones", `${schedulers.length - 1} values (one fewer than schedulers)`, milestones);
    for (const [i, s] of schedulers.entries()) check.require(s.optimizer === optimizer, `schedulers[${i}]`, "bound to the same optimizer", i);
    // Undo the first steps the schedulers took when they were built, then start the first one.
    for (const group of optimizer.paramGroups) group.hyper.lr = group.initialLr ?? group.hyper.lr;
    for (const s of schedulers) s.lastEpoch--;
    schedulers[0].step();
  }

  step(): void {
    this.lastEpoch++;
    const index = this.milestones.filter((m) => m <= this.lastEpoch).length;
    const scheduler = this.schedulers[index];
    if (index > 0 && this.milestones[index - 1] === this.lastEpoch) scheduler.stepTo(0);
    else scheduler.step();
  }

  lastLr(): number[] {
    return this.optimizer.paramGroups.map((group) => group.hyper.lr);
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  loadStateDict(state: SchedulerState): void {
    this.lastEpoch = state.lastEpoch as number;
    for (const [i, saved] of (state.schedulers as SchedulerState[]).entries()) this.schedulers[i].loadStateDict(saved);
  }
}

/**
 * Steps every scheduler at once so their effects multiply (torch ChainedScheduler), e.g. a
 * constant warmup factor chained with exponential decay. Config name `chained`.
 */
export class ChainedScheduler implements Schedule {
  constructor(readonly schedulers: Schedule[]) {
    new HyperCheck("ChainedScheduler").require(schedulers.length >= 1, "schedulers", "a non-empty list", schedulers.length);
  }

  step(metric?: number): void {
    for (const s of this.schedulers) s.step(metric);
  }

  lastLr(): number[] {
    return this.schedulers[this.schedulers.length - 1].lastLr();
  }

  stateDict(): SchedulerState {
    return { schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  loadStateDict(state: SchedulerState): void {
    for (const [i, saved] of (state.schedulers as SchedulerState[]).entries()) this.schedulers[i].loadStateDict(saved);
  }
}
