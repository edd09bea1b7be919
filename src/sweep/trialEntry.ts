// The entry of a trial's process, which a sweep worker starts with:
// <store path or URL> <sweep id> <trial number> <engine threads> [<the worker's runs directory>].
import { runTrial } from "./trialProcess.ts";

const [storePath, sweepId, trial, threads, runsDir] = process.argv.slice(2);
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
