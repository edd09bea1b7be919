/** A trial to train: which sweep, which trial, and the how-manieth attempt. */
export interface TrialJob {
  /** The sweep the trial belongs to. */
  sweepId: string;
  /** The trial's number in its sweep, from 1. */
  trial: number;
  /** Attempts of the trial before this one (0 for its first). */
  attempt: number;
  /** The job's id in a queue that has them (pg-boss's). */
  id?: string;
}

/**
 * Where trials wait for workers. The local queue lives in the sweep's process, for its own
 * workers; a queue on the PostgreSQL store's server (pg-boss) serves `gradscope worker`
 * processes on any machine behind the same interface.
 */
export interface TrialQueue {
  /** Adds a trial at the back. */
  enqueue(job: TrialJob): Promise<void>;
  /** Takes the next trial for a worker, or null when none waits. */
  claim(): Promise<TrialJob | null>;
  /** The worker finished the trial (however it ended): it leaves the queue for good. */
  complete(job: TrialJob): Promise<void>;
  /** The worker's trial process died: the trial goes back, to the front, for its next attempt. */
  retry(job: TrialJob): Promise<void>;
}

/** The in-process queue of `gradscope sweep`'s local workers. */
export class LocalTrialQueue implements TrialQueue {
  private readonly jobs: TrialJob[] = [];

  async enqueue(job: TrialJob): Promise<void> {
    this.jobs.push(job);
  }

  async claim(): Promise<TrialJob | null> {
    return this.jobs.shift() ?? null;
  }

  async complete(): Promise<void> {}

  async retry(job: TrialJob): Promise<void> {
    this.jobs.unshift({ ...job, attempt: job.attempt + 1 });
  }
}
