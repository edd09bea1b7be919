import type { BaseHyper, Optimizer, ParamGroup } from "../optimizer.ts";
import { HyperCheck } from "../validate.ts";
import { LRScheduler } from "./scheduler.ts";

/** OneCycleLR's options (torch.optim.lr_scheduler.OneCycleLR). */
export interface OneCycleOptions {
  /** The peak learning rate (required). */
  maxLr: number;
  /** Steps in the whole cycle, one per `step()` call (required); stepping past it throws. */
  totalSteps: number;
  /** Fraction of the steps spent increasing the lr (default 0.3). */
  pctStart: number;
  /** How the lr moves between phases: cosine or linear (default "cos"). */
  annealStrategy: "cos" | "linear";
  /** Cycle the momentum (or Adam's β1) inversely to the lr (default true). */
  cycleMomentum: boolean;
  /** The momentum at the lr's peak (default 0.85). */
  baseMomentum: number;
  /** The momentum at the start and end of the cycle (default 0.95). */
  maxMomentum: number;
  /** The initial lr is maxLr / divFactor (default 25). */
  divFactor: number;
  /** The final lr is the initial lr / finalDivFactor (default 1e4). */
  finalDivFactor: number;
  /** A third phase annihilates the lr after a symmetric warm-up and decay (default false). */
  threePhase: boolean;
}

export const oneCycleDefaults: Omit<OneCycleOptions, "maxLr" | "totalSteps"> = {
  pctStart: 0.3,
  annealStrategy: "cos",
  cycleMomentum: true,
  baseMomentum: 0.85,
  maxMomentum: 0.95,
  divFactor: 25,
  finalDivFactor: 1e4,
  threePhase: false,
};

interface Phase {
  endStep: number;
  lr: [number, number];
  momentum: [number, number];
}

type MomentumHyper = BaseHyper & { momentum?: number; betas?: [number, number] };

/**
 * The 1cycle policy (Smith & Topin) as torch OneCycleLR: the lr rises from maxLr/divFactor to
 * maxLr over pctStart of totalSteps, then anneals to maxLr/divFactor/finalDivFactor (three
 * phases optionally); the momentum (SGD's momentum or Adam's β1) cycles inversely. It ignores
 * the optimizer's own lr. Step it per batch. Config name `one_cycle`.
 */
export class OneCycleLR extends LRScheduler {
  readonly options: OneCycleOptions;
  private readonly phases: Phase[];
  private readonly momentumKey: "momentum" | "betas" | null;

  constructor(optimizer: Optimizer<BaseHyper>, options: Partial<OneCycleOptions> & Pick<OneCycleOptions, "maxLr" | "totalSteps">) {
    const o = { ...oneCycleDefaults, ...options };
    new HyperCheck("OneCycleLR")
      .positive("maxLr", o.maxLr)
      .positiveInteger("totalSteps", o.totalSteps)
      .require(o.pctStart >= 0 && o.pctStart <= 1, "pctStart", "in [0, 1]", o.pctStart)
      .oneOf("annealStrategy", o.annealStrategy, ["cos", "linear"])
      .positive("divFactor", o.divFactor)
      .positive("finalDivFactor", o.finalDivFactor);
    // The initial lr is maxLr/divFactor whatever the optimizer's lr was.
    for (const group of optimizer.paramGroups) {
      group.initialLr = o.maxLr / o.divFactor;
      group.hyper.lr = group.initialLr;
    }
    super(optimizer);
    this.options = o;
    const initial = o.maxLr / o.divFactor;
    const min = initial / o.finalDivFactor;
    const [low, high] = [o.baseMomentum, o.maxMomentum];
    this.phases = o.threePhase
      ? [
          { endStep: o.pctStart * o.totalSteps - 1, lr: [initial, o.maxLr], momentum: [high, low] },
          { endStep: 2 * o.pctStart * o.totalSteps - 2, lr: [o.maxLr, initial], momentum: [low, high] },
          { endStep: o.totalSteps - 1, lr: [initial, min], momentum: [high, high] },
        ]
      : [
          { endStep: o.pctStart * o.totalSteps - 1, lr: [initial, o.maxLr], momentum: [high, low] },
          { endStep: o.totalSteps - 1, lr: [o.maxLr, min], momentum: [low, high] },
        ];
    const hyper = optimizer.paramGroups[0].hyper as MomentumHyper;
    this.momentumKey = hyper.momentum !== undefined ? "momentum" : hyper.betas !== undefined ? "betas" : null;
    if (o.cycleMomentum && !this.momentumKey) throw new Error(`gradscope: OneCycleLR: cycleMomentum needs an optimizer with momentum or betas; ${optimizer.name} has neither`);
    this.initialStep();
  }

  protected recursiveLr(): number[] {
    return this.closedFormLr();
  }

  protected closedFormLr(): number[] {
    const t = this.lastEpoch;
    if (t > this.options.totalSteps) throw new RangeError(`gradscope: OneCycleLR stepped ${t} times, more than totalSteps ${this.options.totalSteps}`);
    let start = 0;
    for (const [i, phase] of this.phases.entries()) {
      if (t <= phase.endStep || i === this.phases.length - 1) {
        const pct = (t - start) / (phase.endStep - start);
        if (this.options.cycleMomentum) this.setMomentum(this.anneal(phase.momentum, pct));
        return this.groups.map(() => this.anneal(phase.lr, pct));
      }
      start = phase.endStep;
    }
    return this.currentLrs();
  }

  private anneal([start, end]: [number, number], pct: number): number {
    if (this.options.annealStrategy === "linear") return (end - start) * pct + start;
    return end + ((start - end) / 2) * (1 + Math.cos(Math.PI * pct));
  }

  private setMomentum(value: number): void {
    for (const group of this.groups as ParamGroup<MomentumHyper>[]) {
      if (this.momentumKey === "momentum") group.hyper.momentum = value;
      else if (group.hyper.betas) group.hyper.betas = [value, group.hyper.betas[1]];
    }
  }
}
