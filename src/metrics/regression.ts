import type { Tensor } from "../engine/tensor.ts";
import type { Metric } from "./metric.ts";

/** Checks a regression batch (predictions and float targets of one shape) and returns its arrays. */
function regressionArrays(owner: string, predictions: Tensor, targets: Tensor): { predicted: Float32Array; actual: Float32Array; rows: number } {
  if (targets.dtype !== "float32" || predictions.shape.join(",") !== targets.shape.join(",")) {
    throw new RangeError(
      `gradscope: ${owner}: predictions [${predictions.shape.join(", ")}] and float32 targets of the same shape expected, got ${targets.dtype} [${targets.shape.join(", ")}]`,
    );
  }
  return { predicted: predictions.data, actual: targets.data, rows: predictions.shape[0] };
}

/** Which mean error a RegressionError reports. */
export type ErrorKind = "mae" | "mse" | "rmse";

/**
 * Mean absolute error, mean squared error or its root over every target element (scikit-learn's
 * mean_absolute_error / mean_squared_error / root_mean_squared_error with the uniform average
 * over outputs), summed in float64. NaN before any update. Config names `mae`, `mse`, `rmse`.
 */
export class RegressionError implements Metric {
  private sum = 0;
  private count = 0;

  constructor(readonly name: ErrorKind) {
    if (!["mae", "mse", "rmse"].includes(name)) throw new RangeError(`gradscope: RegressionError: kind must be one of mae, mse, rmse; got ${name}`);
  }

  update(predictions: Tensor, targets: Tensor): void {
    const { predicted, actual } = regressionArrays(this.name, predictions, targets);
    const absolute = this.name === "mae";
    for (let i = 0; i < actual.length; i++) {
      const error = predicted[i] - actual[i];
      this.sum += absolute ? Math.abs(error) : error * error;
    }
    this.count += actual.length;
  }

  compute(): number {
    if (this.count === 0) return Number.NaN;
    const mean = this.sum / this.count;
    return this.name === "rmse" ? Math.sqrt(mean) : mean;
  }

  reset(): void {
    this.sum = 0;
    this.count = 0;
  }
}

/**
 * The coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)², per output column and
 * averaged over columns, as scikit-learn's r2_score (multioutput "uniform_average",
 * force_finite): a constant target column scores 1 when predicted exactly, 0 otherwise. The
 * target spread is accumulated with Welford's update, so batches need no second pass.
 * NaN before any update. Config name `r2`.
 */
export class R2Score implements Metric {
  readonly name = "r2";
  private columns = 0;
  private rows = 0;
  private means = new Float64Array(0);
  private spreads = new Float64Array(0);
  private residuals = new Float64Array(0);

  update(predictions: Tensor, targets: Tensor): void {
    const { predicted, actual, rows } = regressionArrays(this.name, predictions, targets);
    if (rows === 0) return;
    const columns = actual.length / rows;
    if (this.rows === 0) {
      this.columns = columns;
      this.means = new Float64Array(columns);
      this.spreads = new Float64Array(columns);
      this.residuals = new Float64Array(columns);
    } else if (columns !== this.columns) {
      throw new RangeError(`gradscope: r2: batches have ${this.columns} outputs per example, this one ${columns}`);
    }
    for (let r = 0; r < rows; r++) {
      const seen = this.rows + r + 1;
      for (let c = 0; c < columns; c++) {
        const y = actual[r * columns + c];
        const delta = y - this.means[c];
        this.means[c] += delta / seen;
        this.spreads[c] += delta * (y - this.means[c]);
        const error = y - predicted[r * columns + c];
        this.residuals[c] += error * error;
      }
    }
    this.rows += rows;
  }

  compute(): number {
    if (this.rows === 0) return Number.NaN;
    let sum = 0;
    for (let c = 0; c < this.columns; c++) {
      if (this.spreads[c] !== 0) sum += 1 - this.residuals[c] / this.spreads[c];
      else sum += this.residuals[c] === 0 ? 1 : 0;
    }
    return sum / this.columns;
  }

  reset(): void {
    this.rows = 0;
    this.columns = 0;
  }
}
