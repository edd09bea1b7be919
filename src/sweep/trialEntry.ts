// The entry of a trial's process, which a sweep worker starts with:
// <store path> <sweep id> <trial number> <engine threads>.
import { runTrial } from "./trialProcess.ts";

const [storePath, sweepId, trial, threads] = process.argv.slice(2);
runTrial({ storePath, sweepId, trial: Number(trial), threads: Number(threads) }).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
