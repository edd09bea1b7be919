import type PgBoss from "pg-boss";
import { StoreOpenError } from "../store/database.ts";
import { errorMessage, isConnectionLost, reconnectWindowProblem } from "../store/postgres/connectionLost.ts";
import { postgresUrlProblem, redactUrl } from "../store/postgres/postgresUrl.ts";
import type { TrialJob, TrialQueue } from "./queue.ts";

/**
 * A sweep's queue: one per sweep, so that `gradscope sweep`'s own workers take only its trials,
 * a worker serves the sweeps in the order they started (it looks in each running sweep's queue,
 * oldest first), and each queue carries its sweep's `retries` as pg-boss's retry limit.
 */
export const sweepQueueName = (sweepId: string) => `gradscope-trials-${sweepId}`;

// pg-boss fails a job that stays active this long (its maximum is under 24 h). Heartbeats find a
// dead worker within `heartbeat_timeout`; this only backs them up should every process that
// looks at heartbeats be gone, so it is longer than any one attempt of a trial should take.
const EXPIRE_SECONDS = 23 * 3600;

// What a job carries: its trial, and the attempts its trial made before this job (a trial that a
// stopped worker gave back is queued as a new job that keeps its count).
interface TrialJobData {
  sweepId: string;
  trial: number;
  attemptsBefore?: number;
}

/**
 * The trials of sweeps on a PostgreSQL store, as pg-boss jobs in the same database (pg-boss keeps
 * its own schema, `pgboss`, beside gradscope's tables). One job per trial: a job that fails goes
 * back to its queue (pg-boss's retry, at the front: jobs are taken oldest first) until the
 * sweep's `retries` are used, and its retry count is the trial's attempt. `sweeps` names the
 * sweeps whose queues `claim` looks in, in order.
 */
export class PgBossTrialQueue implements TrialQueue {
  private constructor(
    private readonly boss: PgBoss,
    private readonly sweeps: () => string[],
  ) {}

  /**
   * Connects pg-boss to the store's database (creating its schema there once) and starts it.
   * A user without CREATE on the database (needed once, for that schema) is a StoreOpenError
   * saying so: started before the store's tables are made, this leaves the database untouched.
   */
  static async start(url: string, sweeps: () => string[]): Promise<PgBossTrialQueue> {
    const problem = postgresUrlProblem(url);
    if (problem) throw new StoreOpenError(`gradscope: cannot open the run store ${redactUrl(url)}: ${problem}`);
    const window = reconnectWindowProblem();
    if (window) throw new StoreOpenError(`gradscope: ${window}`);
    // Loaded here, not with the package: only sweeps on a PostgreSQL store need it.
    const { default: PgBossClass } = await import("pg-boss");
    // Two connections: a worker fetches and completes one job at a time.
    const boss = new PgBossClass({ connectionString: url, max: 2, schedule: false, application_name: "gradscope" });
    // pg-boss reports failures of its background maintenance here; the calls that matter throw.
    boss.on("error", (error) => process.stderr.write(`gradscope: the job queue at ${redactUrl(url)}: ${error.message}\n`));
    try {
      await boss.start();
    } catch (error) {
      const { code } = error as { code?: string };
      const message = errorMessage(error);
      // Said as the store says it (the queue is the first to connect).
      // (28: the login was refused; 3D000: no such database.)
      if (isConnectionLost(error) || code?.startsWith("28") || code === "3D000")
        throw new StoreOpenError(
          `gradscope: cannot open the run store ${redactUrl(url)}: cannot connect (${message}); expected a PostgreSQL server that accepts this URL's user, password and database`,
        );
      if (code === "42501" && /for database/.test(message))
        throw new StoreOpenError(
          `gradscope: cannot start the job queue at ${redactUrl(url)}: ${message}; pg-boss creates its schema (pgboss) in the store's database once, which needs CREATE on the database (GRANT CREATE ON DATABASE … TO …, or start the first sweep as its owner)`,
        );
      throw new Error(`gradscope: cannot start the job queue at ${redactUrl(url)}: ${message}`);
    }
    return new PgBossTrialQueue(boss, sweeps);
  }

  /** Creates a sweep's queue, whose jobs are retried `retries` times, at once. */
  async createSweepQueue(sweepId: string, retries: number): Promise<void> {
    await this.boss.createQueue(sweepQueueName(sweepId), { name: sweepQueueName(sweepId), retryLimit: retries, retryDelay: 0, expireInSeconds: EXPIRE_SECONDS });
  }

  async enqueue(job: TrialJob): Promise<void> {
    await this.send(job.sweepId, { sweepId: job.sweepId, trial: job.trial });
  }

  private async send(sweepId: string, data: TrialJobData, options: PgBoss.SendOptions = {}): Promise<void> {
    const id = await this.boss.send(sweepQueueName(sweepId), data, options);
    if (id === null) throw new Error(`gradscope: the job queue refused trial ${data.trial} of sweep ${sweepId}`);
  }

  async claim(): Promise<TrialJob | null> {
    for (const sweepId of this.sweeps()) {
      const [job] = await this.boss.fetch<TrialJobData>(sweepQueueName(sweepId), { includeMetadata: true, batchSize: 1 });
      if (job) return { sweepId: job.data.sweepId, trial: job.data.trial, attempt: (job.data.attemptsBefore ?? 0) + job.retryCount, id: job.id };
    }
    return null;
  }

  async complete(job: TrialJob): Promise<void> {
    await this.boss.complete(sweepQueueName(job.sweepId), jobId(job));
  }

  async retry(job: TrialJob): Promise<void> {
    await this.fail(job.sweepId, jobId(job));
  }

  /**
   * Fails a job: pg-boss queues it again for its next attempt, or, when its retries are used,
   * fails it for good. Resolves to which.
   */
  async fail(sweepId: string, id: string): Promise<"retry" | "failed"> {
    const name = sweepQueueName(sweepId);
    await this.boss.fail(name, id);
    const job = await this.boss.getJobById(name, id);
    return job?.state === "retry" ? "retry" : "failed";
  }

  /**
   * Puts a trial that its worker stopped back in its queue without counting an attempt: its job
   * is done and a new one, with the attempts left, is queued in its place.
   */
  async giveBack(job: TrialJob, retries: number): Promise<void> {
    await this.complete(job);
    await this.send(job.sweepId, { sweepId: job.sweepId, trial: job.trial, attemptsBefore: job.attempt }, { retryLimit: Math.max(0, retries - job.attempt) });
  }

  /** Jobs of a sweep that wait for a worker. */
  async waiting(sweepId: string): Promise<number> {
    return this.boss.getQueueSize(sweepQueueName(sweepId));
  }

  /** Drops the jobs of a sweep that wait for a worker (a stopped sweep's). */
  async dropWaiting(sweepId: string): Promise<void> {
    await this.boss.purgeQueue(sweepQueueName(sweepId));
  }

  /** Stops pg-boss and closes its connections. */
  async stop(): Promise<void> {
    await this.boss.stop({ graceful: false, wait: true });
  }
}

function jobId(job: TrialJob): string {
  if (job.id === undefined) throw new Error(`gradscope: trial ${job.trial} of sweep ${job.sweepId} has no job id`);
  return job.id;
}
