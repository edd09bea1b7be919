import type { BaseHyper, Optimizer } from "../optimizer.ts";
import { HyperCheck } from "../validate.ts";
import { LRScheduler, type SchedulerState } from "./scheduler.ts";

// Python's modulo, whose result takes the divisor's sign.
const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * Cosine annealing from the base lr to etaMin over tMax epochs (torch CosineAnnealingLR);
 * past tMax it continues along the cosine, so the lr rises again. Config name `cosine`.
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(
    optimizer: Optimizer<BaseHyper>,
    readonly tMax: number,
    readonly etaMin = 0,
  ) {
    super(optimizer);
    new HyperCheck("CosineAnnealingLR").positiveInteger("tMax", tMax).nonNegative("etaMin", etaMin);
    this.initialStep();
  }

  protected recursiveLr(): number[] {
    const t = this.lastEpoch;
    const T = this.tMax;
    if (t === 0) return this.currentLrs();
    if (mod(t - 1 - T, 2 * T) === 0) {
      return this.currentLrs().map((lr, i) => lr + ((this.baseLrs[i] - this.etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    const ratio = (1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T));
    return this.currentLrs().map((lr) => ratio * (lr - this.etaMin) + this.etaMin);
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
}

/**
 * Cosine annealing with warm restarts (SGDR; torch CosineAnnealingWarmRestarts): the first
 * cycle lasts t0 epochs and each next one tMult times longer. Config name `cosine_restarts`.
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  private tCur = -1;
  private tI: number;

  constructor(
    optimizer: Optimizer<BaseHyper>,
    readonly t0: number,
    readonly tMult = 1,
    readonly etaMin = 0,
  ) {
    super(optimizer);
    new HyperCheck("CosineAnnealingWarmRestarts").positiveInteger("t0", t0).positiveInteger("tMult", tMult).nonNegative("etaMin", etaMin);
    this.tI = t0;
    this.initialStep();
  }

  step(): void {
    this.tCur++;
    if (this.tCur >= this.tI) {
      this.tCur -= this.tI;
      this.tI *= this.tMult;
    }
    this.lastEpoch++;
    this.apply(this.closedFormLr());
  }

  stepTo(epoch: number): void {
    if (epoch >= this.t0) {
      if (this.tMult === 1) this.tCur = epoch % this.t0;
      else {
        const n = Math.floor(Math.log((epoch / this.t0) * (this.tMult - 1) + 1) / Math.log(this.tMult));
        this.tCur = epoch - (this.t0 * (this.tMult ** n - 1)) / (this.tMult - 1);
        this.tI = this.t0 * this.tMult ** n;
      }
    } else {
      this.tI = this.t0;
      this.tCur = epoch;
    }
    this.lastEpoch = epoch;
    this.apply(this.closedFormLr());
  }

  protected recursiveLr(): number[] {
    return this.closedFormLr();
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * this.tCur) / this.tI))) / 2);
  }

  protected extraState(): SchedulerState {
    return { tCur: this.tCur, tI: this.tI };
  }

  protected loadExtraState(state: SchedulerState): void {
    this.tCur = state.tCur as number;
    this.tI = state.tI as number;
  }
}
