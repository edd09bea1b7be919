import type { BaseHyper, Optimizer, ParamGroup } from "../optimizer.ts";

/** A serializable scheduler snapshot: its own counters plus subclass fields. */
export type SchedulerState = Record<string, unknown>;

/** Anything that can be stepped and saved: LR schedulers, compositions, ReduceLROnPlateau. */
export interface Schedule {
  /** Advances one step (per batch or per epoch: the caller decides the cadence). */
  step(metric?: number): void;
  /** The lr of each group after the last step. */
  lastLr(): number[];
  /** A snapshot of the schedule's counters, for checkpoints. */
  stateDict(): SchedulerState;
  /** Restores a snapshot taken by `stateDict`. */
  loadStateDict(state: SchedulerState): void;
}

/**
 * The base of epoch-indexed LR schedulers, ported from torch.optim.lr_scheduler.LRScheduler:
 * construction records each group's initial lr and performs the first step (epoch 0);
 * `step()` advances the epoch and applies `recursiveLr`, PyTorch's chainable form that
 * updates from the groups' current lr, so several schedulers compose on one optimizer.
 * `stepTo(epoch)` jumps with the closed form (what SequentialLR uses at its milestones).
 */
export abstract class LRScheduler implements Schedule {
  lastEpoch = -1;
  readonly baseLrs: number[];
  protected lastLrs: number[] = [];

  constructor(readonly optimizer: Optimizer<BaseHyper>) {
    for (const group of optimizer.paramGroups) group.initialLr ??= group.hyper.lr;
    this.baseLrs = optimizer.paramGroups.map((group) => group.initialLr as number);
  }

  /** Performs the first step; subclasses call it at the end of their constructor. */
  protected initialStep(): void {
    this.step();
  }

  protected get groups(): ParamGroup<BaseHyper>[] {
    return this.optimizer.paramGroups;
  }

  /** The new lr of each group from the current ones, at `lastEpoch` (already advanced). */
  protected abstract recursiveLr(): number[];

  /** The lr of each group at `lastEpoch` from the base lrs alone. */
  protected abstract closedFormLr(): number[];

  step(): void {
    this.lastEpoch++;
    this.apply(this.recursiveLr());
  }

  /** Jumps to `epoch` with the closed form (PyTorch's deprecated `step(epoch)`). */
  stepTo(epoch: number): void {
    this.lastEpoch = epoch;
    this.apply(this.closedFormLr());
  }

  protected apply(lrs: number[]): void {
    this.groups.forEach((group, i) => {
      group.hyper.lr = lrs[i];
    });
    this.lastLrs = lrs;
  }

  lastLr(): number[] {
    return [...this.lastLrs];
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, lastLrs: [...this.lastLrs], ...this.extraState() };
  }

  loadStateDict(state: SchedulerState): void {
    this.lastEpoch = state.lastEpoch as number;
    this.lastLrs = [...(state.lastLrs as number[])];
    this.loadExtraState(state);
  }

  /** Subclass fields that change while stepping. */
  protected extraState(): SchedulerState {
    return {};
  }

  protected loadExtraState(_state: SchedulerState): void {}

  /** The current lr of each group. */
  protected currentLrs(): number[] {
    return this.groups.map((group) => group.hyper.lr);
  }
}
