import { cpus } from "node:os";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import type { RunStore } from "../../store/runStore.ts";
import { seriesKey } from "../../store/seriesKeys.ts";
import type { Callback, Logs } from "../callback.ts";

/**
 * Samples the training process every `intervalMs` into the run store, for the dashboard's
 * system panel, in the `system` family of series (store/seriesKeys.ts): `cpu_percent` (of the
 * whole machine), `rss_mb`, `steps_per_second` and `event_loop_delay_ms` (the 99th percentile:
 * how long I/O such as Ctrl-C waits for the training loop).
 */
export class SystemMonitor implements Callback {
  readonly name = "system";
  private last = { wall: 0, cpu: process.cpuUsage(), step: 0 };
  private delay: IntervalHistogram | null = null;

  constructor(
    readonly store: RunStore,
    readonly runId: string,
    readonly intervalMs = 2000,
  ) {}

  onTrainBegin(_trainer: unknown, logs: Logs): void {
    this.delay = monitorEventLoopDelay({ resolution: 10 });
    this.delay.enable();
    this.last = { wall: performance.now(), cpu: process.cpuUsage(), step: logs.step };
  }

  onBatchEnd(_trainer: unknown, logs: Logs): void {
    const wall = performance.now();
    const elapsed = wall - this.last.wall;
    if (elapsed < this.intervalMs) return;
    const cpu = process.cpuUsage(this.last.cpu);
    const step = logs.step + 1;
    const log = (key: string, value: number) => this.store.log(this.runId, seriesKey.system(key), logs.step, value);
    log("cpu_percent", ((cpu.user + cpu.system) / 1000 / elapsed / cpus().length) * 100);
    log("rss_mb", process.memoryUsage.rss() / 2 ** 20);
    log("steps_per_second", ((step - this.last.step) * 1000) / elapsed);
    if (this.delay) log("event_loop_delay_ms", this.delay.percentile(99) / 1e6);
    this.delay?.reset();
    this.last = { wall, cpu: process.cpuUsage(), step };
  }

  onTrainEnd(): void {
    this.delay?.disable();
    this.delay = null;
  }
}
