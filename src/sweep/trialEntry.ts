// The entry of a trial's process, which a sweep worker starts with:
// <sweep id> <trial number> <engine threads> [<the worker's runs directory>], and the store's path
// or URL in the environment (TRIAL_STORE_VARIABLE: not in `ps`).
import { runTrial } from "./trialProcess.ts";
import { TRIAL_STORE_VARIABLE } from "./trialSpawn.ts";

const [sweepId, trial, threads, runsDir] = process.argv.slice(2);
const storePath = process.env[TRIAL_STORE_VARIABLE];
if (!storePath) {
  process.stderr.write(`gradscope: a trial's process needs its store in ${TRIAL_STORE_VARIABLE}\n`);
  process.exit(2);
}
// Started by a `gradscope worker` (with a channel to it): when the worker dies, the trial stops
// as Ctrl-C stops it (a checkpoint, the run interrupted) rather than train on with nobody
// heartbeating for it; another worker resumes it once its heartbeat is stale.
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));
runTrial({ storePath, sweepId, trial: Number(trial), threads: Number(threads), runsDir }).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
