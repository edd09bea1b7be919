import { nonFiniteGradients } from "../../optim/clip.ts";
import type { Callback, Logs } from "../callback.ts";
import type { Trainer } from "../trainer.ts";

/**
 * Stops training (as failed, before the optimizer applies anything) when the loss or a
 * gradient is NaN or infinite, naming the step and the first parameter at fault. Config key
 * `callbacks.nan_guard` (on by default).
 */
export class NanGuard implements Callback {
  readonly name = "nan_guard";

  onBackwardEnd(trainer: Trainer, logs: Logs): void {
    // The trainer's gradient norm is NaN or ∞ exactly when some element is (or the sum of
    // squares overflows), so the per-parameter scan runs only then.
    if (Number.isFinite(logs.loss) && (logs.grad_norm === undefined || Number.isFinite(logs.grad_norm))) return;
    const bad = nonFiniteGradients(trainer.model.namedParameters());
    const where = `epoch ${logs.epoch}, batch ${logs.batch}, step ${logs.step}`;
    if (bad.length > 0)
      trainer.requestStop(`non-finite gradient at ${where}: first in parameter ${bad[0]}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ""}; loss ${logs.loss}`, true);
    else if (!Number.isFinite(logs.loss)) trainer.requestStop(`non-finite loss ${logs.loss} at ${where}`, true);
    else trainer.requestStop(`the gradient norm overflowed to ${logs.grad_norm} at ${where}`, true);
  }
}
