import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** The nice value the dashboard's thread takes: below the training's, which it must not slow. */
export const DASHBOARD_NICE = 10;

/**
 * Lowers the calling thread's scheduling priority to DASHBOARD_NICE, so that it gives way to the
 * training loop when they compete for a core; never raises it (a process started under
 * `nice -n 19` would otherwise get a dashboard thread ahead of its training). Linux schedules
 * threads one by one and /proc/thread-self names the caller; elsewhere (or where it is refused)
 * nothing changes.
 */
export function yieldToTraining(): void {
  try {
    const thread = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(thread)) setPriority(thread, Math.max(DASHBOARD_NICE, getPriority(thread)));
  } catch {
    // Not Linux, or not permitted: the default priority is correct, only less polite.
  }
}
