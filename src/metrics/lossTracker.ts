/** What a LossTracker reports. */
export interface LossSummary {
  /** The weighted mean of the finite values since the last reset; NaN when there is none. */
  mean: number;
  /** The mean of the last `window` finite values; NaN when there is none. */
  windowMean: number;
  /** The least finite value; +Infinity when there is none. */
  min: number;
  /** The greatest finite value; −Infinity when there is none. */
  max: number;
  /** The total weight of every value added, NaNs included (the number of values if unweighted). */
  count: number;
  /** The value added last, finite or not; NaN before the first. */
  last: number;
}

/**
 * Running statistics of a loss (or any scalar): the mean over everything since the last
 * reset, the mean of the last `window` values, min, max, count and the last value. NaNs are
 * counted but kept out of the means, min and max, so one bad batch does not hide the rest.
 */
export class LossTracker {
  private sum = 0;
  private finiteCount = 0;
  private total = 0;
  private lowest = Number.POSITIVE_INFINITY;
  private highest = Number.NEGATIVE_INFINITY;
  private latest = Number.NaN;
  private readonly recent: number[] = [];
  private recentSum = 0;

  constructor(readonly window = 100) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`gradscope: LossTracker: window must be a positive integer, got ${window}`);
  }

  /** Adds one value (e.g. a batch's mean loss), optionally weighted by its sample count. */
  update(value: number, weight = 1): void {
    this.total += weight;
    this.latest = value;
    if (!Number.isFinite(value)) return;
    this.sum += value * weight;
    this.finiteCount += weight;
    this.lowest = Math.min(this.lowest, value);
    this.highest = Math.max(this.highest, value);
    this.recent.push(value);
    this.recentSum += value;
    if (this.recent.length > this.window) this.recentSum -= this.recent.shift() as number;
  }

  compute(): LossSummary {
    return {
      mean: this.finiteCount === 0 ? Number.NaN : this.sum / this.finiteCount,
      windowMean: this.recent.length === 0 ? Number.NaN : this.recentSum / this.recent.length,
      min: this.lowest,
      max: this.highest,
      count: this.total,
      last: this.latest,
    };
  }

  reset(): void {
    this.sum = 0;
    this.finiteCount = 0;
    this.total = 0;
    this.lowest = Number.POSITIVE_INFINITY;
    this.highest = Number.NEGATIVE_INFINITY;
    this.latest = Number.NaN;
    this.recent.length = 0;
    this.recentSum = 0;
  }
}
