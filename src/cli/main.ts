// Only what defining the commands needs is imported here: each command loads its own modules
// when it runs, so that `--help`, `--version` or `runs` do not load the engine, the config
// schema and every store (about half a second).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { MIN_TOKEN_LENGTH, tokenProblem } from "../dashboard/access.ts";
import { DEFAULT_DASHBOARD_HOST } from "../dashboard/listen.ts";
import { backendChoices } from "../engine/backendChoices.ts";
import { packageFile } from "../engine/packageFiles.ts";
import { STORE_URL_VARIABLE } from "../store/storeUrl.ts";
import { ExitCode } from "./exitCodes.ts";
import { defaultStorePath, exportFormats, readStoreLocation, runsActions } from "./storeOptions.ts";
import type { ServeOptions } from "./ui.ts";
import { UsageError } from "./usageError.ts";

const loadPlugins = async (modules: string[] = []) => (await import("./plugins.ts")).loadPlugins(modules);

const storeHelp = `the run store: a SQLite file or a postgres:// URL (default: ${STORE_URL_VARIABLE}, else ${defaultStorePath})`;

// Repeatable options have no default value, which commander's help would print as "(default: [])";
// the actions read an absent one as none.
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

const pluginOption = ["--plugin <module>", "a JavaScript module to import first, registering quantities of your own (repeatable)"] as const;

const portNumber = (text: string) => {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new InvalidArgumentError(`expected a port number 0-65535, got "${text}"`);
  return port;
};

const positiveInteger = (text: string) => {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError(`expected a positive whole number, got "${text}"`);
  return Number(text);
};

const wholeNumber = (text: string) => {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`expected a whole number >= 0, got "${text}"`);
  return Number(text);
};

// An empty or short token would leave a non-loopback dashboard open to anyone.
const accessToken = (text: string) => {
  const problem = tokenProblem(text);
  if (problem) throw new InvalidArgumentError(problem);
  return text;
};

// --threads N is the override engine.threads=N, so a run's saved config records it.
const threadsOverride = (text: string) => {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InvalidArgumentError(`expected a whole number of threads >= 1, got "${text}"`);
  return [`engine.threads=${text}`];
};

// --backend X is the override engine.backend=X, like --threads.
const backendOverride = (text: string) => {
  if (!(backendChoices as readonly string[]).includes(text)) throw new InvalidArgumentError(`expected one of ${backendChoices.join(", ")}, got "${text}"`);
  return [`engine.backend=${text}`];
};
const threadsOption = ["--threads <n>", "threads the engine runs on (engine.threads; default: every core)"] as const;
const backendOption = ["--backend <name>", "where matrix products run: auto, wasm or native (engine.backend; default: auto)"] as const;

const packageVersion = () => (JSON.parse(readFileSync(packageFile(import.meta.url, 1, "package.json"), "utf8")) as { version: string }).version;

/** Runs the `gradscope` command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command("gradscope")
    .description("Train neural networks and see, live, what happens inside the training.")
    .version(packageVersion(), "-V, --version", "print the gradscope version")
    .exitOverride()
    .showHelpAfterError();
  let code: number = ExitCode.ok;
  program
    .command("train")
    .description("train from YAML config files (merged in order); trailing key.path=value arguments override fields")
    .option("-c, --config <file>", "a config file (repeatable; later files override earlier ones)", collect)
    .option("--resume <run-dir>", "continue a run from its checkpoints/latest.gsckpt with its saved config")
    .option("--print-config", "print the resolved config (defaults filled in, only the fields that apply to the run: the chosen data source's) and exit")
    .option("-q, --quiet", "no progress output")
    .option("--dashboard", "serve the live dashboard of this run (prints its address)")
    .option("--host <host>", "the dashboard's interface (non-loopback ones require a token)", DEFAULT_DASHBOARD_HOST)
    .option("--port <port>", "the dashboard's port (0: any free one)", portNumber, 0)
    .option("--token <token>", `the dashboard's access token, ${MIN_TOKEN_LENGTH}+ characters (generated for non-loopback hosts)`, accessToken)
    .option(...pluginOption, collect)
    .option(...threadsOption, threadsOverride)
    .option(...backendOption, backendOverride)
    .option("--store <path-or-url>", `the run store: a SQLite file or a postgres:// URL (default: ${STORE_URL_VARIABLE}, else the config's store.url or store.path)`)
    .argument("[overrides...]", "e.g. training.epochs=3 optimizer.lr=0.01")
    .action(
      async (
        overrides: string[],
        opts: {
          config?: string[];
          resume?: string;
          printConfig?: boolean;
          quiet?: boolean;
          plugin?: string[];
          threads?: string[];
          backend?: string[];
          store?: string;
        } & ServeOptions & {
            dashboard?: boolean;
          },
      ) => {
        if (!opts.config && !opts.resume) {
          // `gradscope train config.yaml` is the commonest slip: name the file in the fix.
          const file = overrides.find((argument) => !argument.includes("=") && /\.ya?ml$/i.test(argument));
          throw new UsageError(`gradscope: train needs -c FILE (or --resume RUN_DIR)${file ? `: gradscope train -c ${file}` : ""}`);
        }
        await loadPlugins(opts.plugin);
        const dashboard = opts.dashboard ? { host: opts.host, port: opts.port, token: opts.token } : undefined;
        const { trainCommand } = await import("./train.ts");
        code = await trainCommand({
          configs: opts.config ?? [],
          overrides: [...overrides, ...(opts.threads ?? []), ...(opts.backend ?? [])],
          resume: opts.resume,
          printConfig: opts.printConfig,
          quiet: opts.quiet,
          store: opts.store,
          dashboard,
        });
      },
    );
  program
    .command("ui")
    .description("serve the dashboard of every run in the store, finished or running, until Ctrl-C")
    .option("--store <path-or-url>", storeHelp)
    .option("--host <host>", "the interface to bind (non-loopback ones require a token)", DEFAULT_DASHBOARD_HOST)
    .option("--port <port>", "the port (0: any free one)", portNumber, 6007)
    .option("--token <token>", `the access token, ${MIN_TOKEN_LENGTH}+ characters (generated for non-loopback hosts)`, accessToken)
    .action(async (opts: ServeOptions & { store?: string }) => {
      code = await (await import("./ui.ts")).uiCommand(opts);
    });
  program
    .command("eval")
    .description("evaluate a checkpoint on the config's test set; prints the metrics as JSON")
    .requiredOption("-c, --config <file>", "a config file (repeatable)", collect)
    .requiredOption("--checkpoint <file>", "a .gsckpt file, e.g. runs/<id>/checkpoints/best.gsckpt")
    .option(...pluginOption, collect)
    .option(...threadsOption, threadsOverride)
    .option(...backendOption, backendOverride)
    .argument("[overrides...]", "key.path=value overrides")
    .action(async (overrides: string[], opts: { config: string[]; checkpoint: string; plugin?: string[]; threads?: string[]; backend?: string[] }) => {
      if (!existsSync(opts.checkpoint)) {
        const { missingCheckpointMessage } = await import("./missingCheckpoint.ts");
        throw new UsageError(`gradscope: eval --checkpoint ${opts.checkpoint}: ${missingCheckpointMessage(opts.checkpoint)}`);
      }
      await loadPlugins(opts.plugin);
      code = (await import("./train.ts")).evalCommand({
        configs: opts.config,
        overrides: [...overrides, ...(opts.threads ?? []), ...(opts.backend ?? [])],
        checkpoint: opts.checkpoint,
      });
    });
  program
    .command("predict")
    .description("predict with a checkpoint on an IDX images file, a CSV file or the config's test set; writes one CSV row per example")
    .requiredOption("-c, --config <file>", "a config file (repeatable)", collect)
    .requiredOption("--checkpoint <file>", "a .gsckpt file, e.g. runs/<id>/checkpoints/best.gsckpt")
    .option("--input <file>", "an IDX images file, or a .csv file with the training CSV's feature columns (the label column may be absent); default: the config's test set")
    .requiredOption("--out <file>", "the CSV file to write (replaced atomically)")
    .option(...pluginOption, collect)
    .option(...threadsOption, threadsOverride)
    .option(...backendOption, backendOverride)
    .argument("[overrides...]", "key.path=value overrides")
    .action(async (overrides: string[], opts: { config: string[]; checkpoint: string; input?: string; out: string; plugin?: string[]; threads?: string[]; backend?: string[] }) => {
      await loadPlugins(opts.plugin);
      code = (await import("./predict.ts")).predictCommand({
        configs: opts.config,
        overrides: [...overrides, ...(opts.threads ?? []), ...(opts.backend ?? [])],
        checkpoint: opts.checkpoint,
        input: opts.input,
        out: opts.out,
      });
    });
  program
    .command("runs")
    .description("list, show or delete the runs in the store")
    .addArgument(new Argument("[action]", "list (default), show or delete").choices(runsActions).default("list"))
    .argument("[id]", "a run id (or a unique prefix of one)")
    .option("--store <path-or-url>", storeHelp)
    .option("--json", "machine-readable output")
    .option("--force", "delete a run that is still marked running (one whose machine is gone)")
    .action(async (action: string, id: string | undefined, opts: { store?: string; json?: boolean; force?: boolean }) => {
      code = (await import("./runs.ts")).runsCommand(action, id, opts);
    });
  program
    .command("export")
    .description("export a run's logged values")
    .argument("<id>", "a run id (or a unique prefix of one)")
    .addOption(new Option("--format <format>", "jsonl, csv or tfevents").choices(exportFormats).makeOptionMandatory())
    .option("--out <dir>", "the folder to write into", ".")
    .option("--store <path-or-url>", storeHelp)
    .action(async (id: string, opts: { store?: string; format: string; out: string }) => {
      code = (await import("./runs.ts")).exportCommand(id, opts);
    });
  program
    .command("sweep")
    .description("run a hyperparameter sweep (-c sweep.yaml) on local workers, and on gradscope workers with a PostgreSQL store; or show one (sweep status <id>)")
    .argument("[action]", "status: print a sweep's trials and its best trial; resume: take up a stopped sweep of a PostgreSQL store")
    .argument("[id]", "with status or resume: a sweep id (or a unique prefix of one)")
    .option("-c, --config <file>", "the sweep file (docs/sweeps.md)")
    .option("--workers <n>", "trial processes at once on this machine (default: one per core; 0 with a PostgreSQL store: gradscope workers train every trial)", wholeNumber)
    .option("--store <path-or-url>", `the run store, a SQLite file or a postgres:// URL (default: ${STORE_URL_VARIABLE}, else the base config's; for status ${defaultStorePath})`)
    .option("--runs-dir <dir>", "with resume: this machine's runs directory for the sweep's folder and its local trials (default: the sweep's own)")
    .option("--json", "with status: machine-readable output")
    .option("-q, --quiet", "no progress lines, only the final table")
    .action(
      async (
        action: string | undefined,
        id: string | undefined,
        opts: { config?: string; workers?: number; store?: string; runsDir?: string; json?: boolean; quiet?: boolean },
      ) => {
        const { sweepCommand, sweepResumeCommand, sweepStatusCommand } = await import("./sweep.ts");
        if (action === undefined) {
          if (!opts.config) throw new UsageError("gradscope: sweep needs -c SWEEP_FILE (or: gradscope sweep status SWEEP_ID)");
          code = await sweepCommand({ config: opts.config, workers: opts.workers, store: opts.store, quiet: opts.quiet });
        } else if (action === "resume") {
          if (!id) throw new UsageError("gradscope: sweep resume needs a sweep id");
          code = await sweepResumeCommand(id, { store: readStoreLocation(opts.store), workers: opts.workers, runsDir: opts.runsDir, quiet: opts.quiet });
        } else if (action === "status") {
          if (!id) throw new UsageError("gradscope: sweep status needs a sweep id");
          code = sweepStatusCommand(id, { store: readStoreLocation(opts.store), json: opts.json });
        } else throw new UsageError(`gradscope: sweep ${action}: unknown action; expected status or resume (or -c SWEEP_FILE to run a sweep)`);
      },
    );
  program
    .command("worker")
    .description("train the trials of the sweeps in a PostgreSQL store, on this machine, until Ctrl-C (docs/sweeps.md)")
    .option("--store <url>", `the PostgreSQL store of the sweeps and their queue (default: ${STORE_URL_VARIABLE})`)
    .option("--threads <n>", "engine threads of each trial (default: every core)", positiveInteger)
    .option("--runs-dir <dir>", "this worker's runs directory: its trials' runs and logs", "runs")
    .option("--once", "exit after one trial")
    .option("--idle-exit <seconds>", "exit after this many seconds without a trial to train", wholeNumber)
    .option("-q, --quiet", "no progress lines")
    .action(async (opts: { store?: string; threads?: number; runsDir: string; once?: boolean; idleExit?: number; quiet?: boolean }) => {
      code = await (await import("./worker.ts")).workerCommand({
        store: opts.store,
        threads: opts.threads,
        runsDir: opts.runsDir,
        once: opts.once,
        idleExitSeconds: opts.idleExit,
        quiet: opts.quiet,
      });
    });
  program
    .command("quantities")
    .description("list every quantity (built in, and those a --plugin registers): config name, stored name, options and defaults")
    .option(...pluginOption, collect)
    .option("--json", "machine-readable output")
    .action(async (opts: { plugin?: string[]; json?: boolean }) => {
      await loadPlugins(opts.plugin);
      const { quantityReference, quantityReferenceMarkdown } = await import("../quantities/reference.ts");
      process.stdout.write(opts.json ? `${JSON.stringify(quantityReference(), null, 2)}\n` : `${quantityReferenceMarkdown()}\n`);
    });
  program
    .command("summary")
    .description("print every layer of a model with its output shape, parameters and multiply-adds per example, and the totals")
    .option("-c, --config <file>", "a config file whose model to show (repeatable)", collect)
    .option("--arch <name>", "a named architecture instead of a config (e.g. resnet18)")
    .option("--variant <name>", "the architecture's variant: imagenet or cifar (lenet5: modern or classic)")
    .option("--classes <n>", "the architecture's number of classes (default 10)", positiveInteger)
    .option("--input <shape>", "the per-example input shape, e.g. 3,224,224 (with -c: instead of loading the data)")
    .option("--json", "machine-readable output")
    .argument("[overrides...]", "key.path=value overrides of the config")
    .action(async (overrides: string[], opts: { config?: string[]; arch?: string; variant?: string; classes?: number; input?: string; json?: boolean }) => {
      code = (await import("./summary.ts")).summaryCommand({
        configs: opts.config ?? [],
        overrides,
        arch: opts.arch,
        variant: opts.variant,
        classes: opts.classes,
        input: opts.input,
        json: opts.json,
      });
    });
  program
    .command("info")
    .description("print where the engine runs: backend (and why native did not load), SIMD build, threads, CPU, and the versions of gradscope, Node and OpenBLAS")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const { engineInfo, engineInfoText } = await import("./info.ts");
      const info = engineInfo(packageVersion());
      process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : `${engineInfoText(info)}\n`);
    });
  program
    .command("schema")
    .description("print the JSON Schema of config files (for editor completion)")
    .option("-o, --out <file>", "write it to a file instead")
    .option(...pluginOption, collect)
    .action(async (opts: { out?: string; plugin?: string[] }) => {
      await loadPlugins(opts.plugin);
      const { configJsonSchema } = await import("../config/schema.ts");
      const text = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
      if (opts.out) writeFileSync(opts.out, text);
      else process.stdout.write(text);
    });
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    // The modules a command loaded, where its errors are defined (loaded now if it failed first).
    const [{ ConfigError }, { CheckpointError }, { StoreOpenError }] = await Promise.all([
      import("../config/load.ts"),
      import("../train/checkpoint.ts"),
      import("../store/database.ts"),
    ]);
    if (error instanceof ConfigError) {
      process.stderr.write(`config error:\n${error.message}\n`);
      return ExitCode.usage;
    }
    // A checkpoint or store that cannot be used is bad input, like a bad config: nothing was
    // trained, evaluated or changed.
    if (error instanceof UsageError || error instanceof CheckpointError || error instanceof StoreOpenError) {
      process.stderr.write(`${error.message}\n`);
      return ExitCode.usage;
    }
    process.stderr.write(`${(error as Error).message}\n`);
    return ExitCode.failed;
  }
}
