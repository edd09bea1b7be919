// The PostgreSQL dialect of the run store's schema (database.ts holds SQLite's). Migration i here
// brings the schema to the version of MIGRATIONS[i] there, so that a version number means the
// same tables in both dialects; a migration is added to both lists at once (a test checks their
// lengths agree). The version is recorded in a schema_version table.
//
// Differences from SQLite, and why: keys and ids collate as "C" (byte order), so that a key
// prefix is the index range seriesKeys.keyRange computes; `seq` identity columns play SQLite's
// rowid (the dashboard's stream cursor); the scalar rollup is kept by statement-level triggers
// over transition tables, one pass per batch rather than one per row; and runs record the host
// of their process (crash marking only judges pids of its own machine). No PostgreSQL store
// predates the unique indexes, so the migrations that cleaned up SQLite's duplicates have none
// to clean here.

/** The schema, as migrations applied in order; `schema_version.version` records how many ran. */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id text COLLATE "C" PRIMARY KEY,
     name text NOT NULL,
     status text NOT NULL,
     config text NOT NULL,
     started_at double precision NOT NULL,
     ended_at double precision,
     summary text,
     pid integer,
     hostname text,
     directory text
   );
   CREATE TABLE scalars (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, step bigint NOT NULL, wall_time double precision NOT NULL, value double precision);
   CREATE INDEX scalars_by_key ON scalars (run_id, key, step);
   CREATE TABLE lists (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, step bigint NOT NULL, wall_time double precision NOT NULL, value text NOT NULL);
   CREATE INDEX lists_by_key ON lists (run_id, key, step);
   CREATE TABLE histograms (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, step bigint NOT NULL, wall_time double precision NOT NULL, edges text NOT NULL, counts text NOT NULL);
   CREATE INDEX histograms_by_key ON histograms (run_id, key, step);
   CREATE TABLE events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id text COLLATE "C" NOT NULL, step bigint, wall_time double precision NOT NULL, kind text NOT NULL, message text NOT NULL);
   CREATE INDEX events_by_run ON events (run_id, wall_time);`,
  // Stop requests and parameter names; the scalar index covers the value.
  `ALTER TABLE runs ADD COLUMN stop_requested double precision;
   ALTER TABLE runs ADD COLUMN parameters text;
   DROP INDEX scalars_by_key;
   CREATE INDEX scalars_by_key ON scalars (run_id, key, step) INCLUDE (value);`,
  // The rollup of every 64-step block of a scalar series (see database.ts), recomputed from the
  // rows of each block a statement touched.
  `CREATE TABLE scalar_blocks (
     run_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, block bigint NOT NULL,
     min double precision, max double precision, last_step bigint NOT NULL, last_value double precision,
     PRIMARY KEY (run_id, key, block)
   );
   CREATE FUNCTION scalar_blocks_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     INSERT INTO scalar_blocks (run_id, key, block, min, max, last_step, last_value)
       SELECT c.run_id, c.key, c.block, b.min, b.max, b.last_step, b.last_value
       FROM (SELECT DISTINCT run_id, key, step >> 6 AS block FROM changed) c,
       -- One index range scan per block: a join would let the planner match every changed block
       -- against every row of the series.
       LATERAL (SELECT MIN(s.value) AS min, MAX(s.value) AS max, MAX(s.step) AS last_step, (array_agg(s.value ORDER BY s.step DESC))[1] AS last_value
                FROM scalars s WHERE s.run_id = c.run_id AND s.key = c.key AND s.step BETWEEN c.block << 6 AND (c.block << 6) + 63) b
     ON CONFLICT (run_id, key, block) DO UPDATE SET
       min = excluded.min, max = excluded.max, last_step = excluded.last_step, last_value = excluded.last_value;
     RETURN NULL;
   END $$;
   CREATE TRIGGER scalar_blocks_on_insert AFTER INSERT ON scalars REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION scalar_blocks_refresh();`,
  // Exactly one row per (run, key, step), written as upserts; an upsert that changes a value
  // recomputes its block. A run's last write dates a crash.
  `DROP INDEX scalars_by_key;
   CREATE UNIQUE INDEX scalars_by_step ON scalars (run_id, key, step) INCLUDE (value);
   DROP INDEX lists_by_key;
   CREATE UNIQUE INDEX lists_by_key ON lists (run_id, key, step);
   DROP INDEX histograms_by_key;
   CREATE UNIQUE INDEX histograms_by_key ON histograms (run_id, key, step);
   CREATE TRIGGER scalar_blocks_on_update AFTER UPDATE ON scalars REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION scalar_blocks_refresh();
   ALTER TABLE runs ADD COLUMN last_write double precision;`,
  // Sweeps, their trials and the rung values of successive halving (src/store/sweeps.ts).
  `CREATE TABLE sweeps (
     id text COLLATE "C" PRIMARY KEY,
     name text NOT NULL,
     spec text NOT NULL,
     base text NOT NULL,
     status text NOT NULL,
     directory text NOT NULL,
     created_at double precision NOT NULL,
     ended_at double precision
   );
   CREATE TABLE trials (
     sweep_id text COLLATE "C" NOT NULL,
     number integer NOT NULL,
     params text NOT NULL,
     status text NOT NULL,
     attempts integer NOT NULL DEFAULT 0,
     run_id text COLLATE "C",
     directory text,
     metric double precision,
     stopped_by text,
     steps bigint,
     planned_steps bigint,
     message text,
     created_at double precision NOT NULL,
     ended_at double precision,
     PRIMARY KEY (sweep_id, number)
   );
   CREATE INDEX trials_by_run ON trials (run_id);
   CREATE TABLE trial_rungs (
     sweep_id text COLLATE "C" NOT NULL, rung integer NOT NULL, trial integer NOT NULL, value double precision,
     PRIMARY KEY (sweep_id, rung, trial)
   );`,
  // Sweeps across machines: the worker training a trial, its job and heartbeat, and the latest
  // checkpoint of each trial's run (see database.ts).
  `ALTER TABLE trials ADD COLUMN worker text;
   ALTER TABLE trials ADD COLUMN job_id text;
   ALTER TABLE trials ADD COLUMN heartbeat_at double precision;
   CREATE TABLE checkpoints (run_id text COLLATE "C" PRIMARY KEY, step bigint NOT NULL, saved_at double precision NOT NULL, data bytea NOT NULL);`,
  // Coarse levels of the scalar rollup (see rollupLevels.ts): blocks of 512 (level 1) and 4096
  // (level 2) steps, each recomputed from the 8 blocks below it that a statement touched, so that
  // a long range's buckets are reduced from at most 16 blocks each rather than one per 64 steps.
  // The refresh is the one of migration 3 followed by the two coarse levels; existing series are
  // rolled up here.
  `CREATE TABLE scalar_coarse_blocks (
     run_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, level smallint NOT NULL, block bigint NOT NULL,
     min double precision, max double precision, last_step bigint NOT NULL, last_value double precision,
     PRIMARY KEY (run_id, key, level, block)
   );
   CREATE OR REPLACE FUNCTION scalar_blocks_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     INSERT INTO scalar_blocks (run_id, key, block, min, max, last_step, last_value)
       SELECT c.run_id, c.key, c.block, b.min, b.max, b.last_step, b.last_value
       FROM (SELECT DISTINCT run_id, key, step >> 6 AS block FROM changed) c,
       LATERAL (SELECT MIN(s.value) AS min, MAX(s.value) AS max, MAX(s.step) AS last_step, (array_agg(s.value ORDER BY s.step DESC))[1] AS last_value
                FROM scalars s WHERE s.run_id = c.run_id AND s.key = c.key AND s.step BETWEEN c.block << 6 AND (c.block << 6) + 63) b
     ON CONFLICT (run_id, key, block) DO UPDATE SET
       min = excluded.min, max = excluded.max, last_step = excluded.last_step, last_value = excluded.last_value;
     INSERT INTO scalar_coarse_blocks (run_id, key, level, block, min, max, last_step, last_value)
       SELECT c.run_id, c.key, 1, c.block, b.min, b.max, b.last_step, b.last_value
       FROM (SELECT DISTINCT run_id, key, step >> 9 AS block FROM changed) c,
       LATERAL (SELECT MIN(s.min) AS min, MAX(s.max) AS max, MAX(s.last_step) AS last_step, (array_agg(s.last_value ORDER BY s.block DESC))[1] AS last_value
                FROM scalar_blocks s WHERE s.run_id = c.run_id AND s.key = c.key AND s.block BETWEEN c.block << 3 AND (c.block << 3) + 7) b
     ON CONFLICT (run_id, key, level, block) DO UPDATE SET
       min = excluded.min, max = excluded.max, last_step = excluded.last_step, last_value = excluded.last_value;
     INSERT INTO scalar_coarse_blocks (run_id, key, level, block, min, max, last_step, last_value)
       SELECT c.run_id, c.key, 2, c.block, b.min, b.max, b.last_step, b.last_value
       FROM (SELECT DISTINCT run_id, key, step >> 12 AS block FROM changed) c,
       LATERAL (SELECT MIN(s.min) AS min, MAX(s.max) AS max, MAX(s.last_step) AS last_step, (array_agg(s.last_value ORDER BY s.block DESC))[1] AS last_value
                FROM scalar_coarse_blocks s WHERE s.run_id = c.run_id AND s.key = c.key AND s.level = 1 AND s.block BETWEEN c.block << 3 AND (c.block << 3) + 7) b
     ON CONFLICT (run_id, key, level, block) DO UPDATE SET
       min = excluded.min, max = excluded.max, last_step = excluded.last_step, last_value = excluded.last_value;
     RETURN NULL;
   END $$;
   INSERT INTO scalar_coarse_blocks (run_id, key, level, block, min, max, last_step, last_value)
     SELECT run_id, key, 1, block >> 3, MIN(min), MAX(max), MAX(last_step), (array_agg(last_value ORDER BY block DESC))[1] FROM scalar_blocks GROUP BY run_id, key, block >> 3;
   INSERT INTO scalar_coarse_blocks (run_id, key, level, block, min, max, last_step, last_value)
     SELECT run_id, key, 2, block >> 3, MIN(min), MAX(max), MAX(last_step), (array_agg(last_value ORDER BY block DESC))[1] FROM scalar_coarse_blocks WHERE level = 1 GROUP BY run_id, key, block >> 3;`,
];

/** The advisory lock key under which one process at a time migrates a database ("gradscop" in ASCII). */
export const MIGRATION_LOCK = 0x6772616473636f70n;

/**
 * The advisory lock key that every transaction writing streamed rows holds to its commit, so that
 * `seq` order is commit order and the dashboard's stream, which reads past a cursor of seqs, never
 * skips a row that a slower concurrent transaction commits later.
 */
export const STREAM_WRITE_LOCK = MIGRATION_LOCK + 1n;
