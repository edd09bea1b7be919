import { StoreUnreachableError } from "../store/postgres/connectionLost.ts";
import type { SweepStore, TrialRecord } from "../store/sweeps.ts";
import type { Callback } from "../train/callback.ts";

/** How often a trial looks whether it is still its worker's (at most this long between looks). */
export const FENCE_CHECK_MS = 1000;

/**
 * Fencing of a trial's process: it trains attempt `attempt` of its trial, and stops at once,
 * writing nothing more, when the trial's row says otherwise (another worker took the trial after
 * this one's worker missed its heartbeats, or the trial was handed back). It looks every
 * FENCE_CHECK_MS at a batch's end, and before every checkpoint goes to the store (it runs before
 * StoredCheckpoints), so that a stale attempt never overwrites the newer attempt's checkpoint.
 */
export class TrialFence implements Callback {
  readonly name = "trial-fence";
  private checkedAt = Date.now();

  constructor(
    private readonly store: SweepStore,
    private readonly trial: { sweepId: string; number: number; attempt: number },
    /** Ends the process (it must not return): the trial is another attempt's now. */
    private readonly onLost: (why: string) => never,
  ) {}

  onBatchEnd(): void {
    if (Date.now() - this.checkedAt >= FENCE_CHECK_MS) this.check();
  }

  afterCheckpoint(): void {
    this.check();
  }

  private check(): void {
    this.checkedAt = Date.now();
    const { sweepId, number, attempt } = this.trial;
    let now: TrialRecord;
    try {
      now = this.store.trial(sweepId, number);
    } catch (error) {
      // The server is away: the trial stops with a checkpoint of its own (TrialStoreOutage),
      // written to its run directory only, which no other attempt shares.
      if (error instanceof StoreUnreachableError) return;
      throw error;
    }
    if (now.attempts !== attempt)
      this.onLost(`trial ${number} of sweep ${sweepId} is in its attempt ${now.attempts} elsewhere; this attempt ${attempt} stops without writing more`);
    if (now.status !== "running") this.onLost(`trial ${number} of sweep ${sweepId} was handed back (it is ${now.status}); this attempt ${attempt} stops without writing more`);
  }
}
