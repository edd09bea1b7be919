import cliProgress from "cli-progress";
import type { Callback, Logs } from "../callback.ts";
import type { Trainer } from "../trainer.ts";

const format = (value: number | undefined, digits = 4) => (value === undefined ? "-" : Number.isInteger(value) ? String(value) : value.toFixed(digits));

/** The epoch summary line: every log but the bookkeeping ones. */
export function epochLine(logs: Logs, epochs: number): string {
  const skip = new Set(["epoch", "step", "epoch_seconds"]);
  const values = Object.entries(logs)
    .filter(([key]) => !skip.has(key) && !key.includes("/"))
    .map(([key, value]) => `${key} ${format(value)}`);
  return `epoch ${logs.epoch}/${epochs}  ${values.join("  ")}  (${format(logs.epoch_seconds, 1)} s)`;
}

/**
 * Progress on the console: on a TTY a live bar (epoch, batch, loss, throughput, ETA); otherwise
 * a plain line every `every` batches. A summary line closes each epoch. Config key
 * `callbacks.progress`.
 */
export class ProgressLogger implements Callback {
  readonly name = "progress";
  private bar: cliProgress.SingleBar | null = null;
  private epochStart = 0;
  private examples = 0;
  private batchesPerEpoch = 0;

  constructor(
    readonly epochs: number,
    readonly batchesPerEpochHint: number,
    readonly every = 100,
    readonly stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.batchesPerEpoch = batchesPerEpochHint;
  }

  onEpochBegin(_trainer: Trainer, logs: Logs): void {
    this.epochStart = performance.now();
    this.examples = 0;
    if (this.stream.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          format: `epoch ${logs.epoch}/${this.epochs} {bar} {value}/{total}  loss {loss}  {rate} ex/s  ETA {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.batchesPerEpoch, 0, { loss: "-", rate: "-" });
    }
  }

  onBatchEnd(_trainer: Trainer, logs: Logs): void {
    this.examples += logs.size;
    const seconds = (performance.now() - this.epochStart) / 1000;
    const rate = (this.examples / Math.max(seconds, 1e-9)).toFixed(0);
    if (this.bar) this.bar.update(logs.batch + 1, { loss: format(logs.loss), rate });
    else if ((logs.batch + 1) % this.every === 0) {
      this.stream.write(`epoch ${logs.epoch}/${this.epochs}  batch ${logs.batch + 1}/${this.batchesPerEpoch}  step ${logs.step + 1}  loss ${format(logs.loss)}  ${rate} ex/s\n`);
    }
  }

  onEpochEnd(_trainer: Trainer, logs: Logs): void {
    this.bar?.stop();
    this.bar = null;
    this.stream.write(`${epochLine(logs, this.epochs)}\n`);
  }

  onTrainEnd(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
