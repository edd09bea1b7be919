import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/** The nice value the dashboard's thread takes: below the training's, which it must not slow. */
export const DASHBOARD_NICE = 10;

/**
 * Lowers the calling thread's scheduling priority to DASHBOARD_NICE, so that it gives way to the
 * training loop when they compete for a core. Linux schedules threads one by one and
 * /proc/thread-self names the caller; elsewhere (or where it is refused) nothing changes.
 */
export function yieldToTraining(): void {
  try {
    const thread = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(thread)) setPriority(thread, DASHBOARD_NICE);
  } catch {
    // Not Linux, or not permitted: the default priority is correct, only less polite.
  }
}
