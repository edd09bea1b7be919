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
    const bad = nonFiniteGradients(trainer.model.namedParameters());
    if (Number.isFinite(logs.loss) && bad.length === 0) return;
    const where = `epoch ${logs.epoch}, batch ${logs.batch}, step ${logs.step}`;
    if (bad.length > 0)
      trainer.requestStop(`non-finite gradient at ${where}: first in parameter ${bad[0]}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ""}; loss ${logs.loss}`, true);
    else trainer.requestStop(`non-finite loss ${logs.loss} at ${where}`, true);
  }
}
