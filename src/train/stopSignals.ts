/** The signals that stop a run as Ctrl-C does, with the exit code of each (128 + the signal's number). */
export const stopSignals = { SIGINT: 130, SIGTERM: 143 } as const;

/** A signal that interrupts a run. */
export type StopSignal = keyof typeof stopSignals;
