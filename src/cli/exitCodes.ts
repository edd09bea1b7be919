import { stopSignals } from "../train/stopSignals.ts";

/** Exit codes of the CLI: 130 and 143 are 128 + the number of the signal that stopped the run. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, interrupted: stopSignals.SIGINT, terminated: stopSignals.SIGTERM } as const;
