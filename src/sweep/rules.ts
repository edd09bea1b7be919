import type { RuleSpec } from "./spec.ts";

/** A rule as the sweep file writes it, for messages and the trial table: `alpha above 0.5 for 50 steps`. */
export function ruleLabel(rule: RuleSpec): string {
  const watched = rule.quantity ?? rule.metric;
  const span = rule.for_steps > 1 ? ` for ${rule.for_steps} steps` : "";
  if (rule.above !== undefined) return `${watched} above ${rule.above}${span}`;
  if (rule.below !== undefined) return `${watched} below ${rule.below}${span}`;
  if (rule.diverges) return `${watched} diverges (x${rule.diverges.factor} over ${rule.diverges.window} values)`;
  return `${watched} is NaN or infinite`;
}

/** Where an observed value comes from: a quantity (by config name) or a training log. */
export type WatchedKind = "quantity" | "metric";

interface RuleState {
  /** The first step of the current run of values beyond the bound. */
  streakStart: number | null;
  /** diverges: the first `window` values, then the last `window`. */
  first: number[];
  recent: number[];
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * Evaluates a sweep's diagnostic rules on a trial's values as they are logged. `above`/`below`
 * fire when every value over `for_steps` steps is beyond the bound (a NaN or infinite value
 * counts as beyond); `diverges` when the mean of the last `window` values exceeds `factor`
 * times the mean of the first `window` (or a value is not finite); `nan` at the first value
 * that is not finite. Its state goes into the trial's checkpoints, so a resumed trial goes on
 * counting.
 */
export class RuleMonitor {
  private states: RuleState[];

  constructor(readonly rules: RuleSpec[]) {
    this.states = rules.map(() => ({ streakStart: null, first: [], recent: [] }));
  }

  /** Feeds one value; returns the first rule it makes fire, or null. */
  observe(kind: WatchedKind, name: string, step: number, value: number): RuleSpec | null {
    for (const [i, rule] of this.rules.entries()) {
      if ((kind === "quantity" ? rule.quantity : rule.metric) !== name) continue;
      if (this.fires(rule, this.states[i], step, value)) return rule;
    }
    return null;
  }

  private fires(rule: RuleSpec, state: RuleState, step: number, value: number): boolean {
    const finite = Number.isFinite(value);
    if (rule.nan) return !finite;
    if (rule.diverges) {
      if (!finite) return true;
      const { window, factor } = rule.diverges;
      if (state.first.length < window) {
        state.first.push(value);
        return false;
      }
      state.recent.push(value);
      if (state.recent.length > window) state.recent.shift();
      return state.recent.length === window && mean(state.recent) > factor * mean(state.first);
    }
    const beyond = !finite || (rule.above !== undefined ? value > rule.above : value < (rule.below as number));
    if (!beyond) {
      state.streakStart = null;
      return false;
    }
    state.streakStart ??= step;
    return step - state.streakStart + 1 >= rule.for_steps;
  }

  stateDict(): unknown {
    return structuredClone(this.states);
  }

  loadStateDict(state: unknown): void {
    if (Array.isArray(state) && state.length === this.rules.length) this.states = structuredClone(state) as RuleState[];
  }
}

/** The epochs at which successive halving compares trials: min_epochs·rf^k before max_epochs. */
export function rungEpochs(minEpochs: number, reductionFactor: number, maxEpochs: number): number[] {
  const rungs: number[] = [];
  for (let epoch = minEpochs; epoch < maxEpochs; epoch *= reductionFactor) rungs.push(epoch);
  return rungs;
}

/**
 * Whether a trial goes on past a rung (asynchronous successive halving, as Optuna's
 * SuccessiveHalvingPruner decides it): among the values of every trial that reached the rung so
 * far, its own included, it must be in the best ⌊n / rf⌋ (at least the best one). A value that is
 * not finite never goes on.
 */
export function continuesPastRung(own: number, atRung: Array<number | null>, reductionFactor: number, goal: "minimize" | "maximize"): boolean {
  if (!Number.isFinite(own)) return false;
  const sign = goal === "minimize" ? 1 : -1;
  const ranked = atRung.map((v) => (v === null || !Number.isFinite(v) ? Number.POSITIVE_INFINITY : sign * v)).sort((a, b) => a - b);
  const kept = Math.max(1, Math.floor(ranked.length / reductionFactor));
  return sign * own <= ranked[kept - 1];
}
