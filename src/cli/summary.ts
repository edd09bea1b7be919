import { buildData } from "../config/build.ts";
import { loadConfig } from "../config/load.ts";
import { buildModel, type ModelSpec } from "../nn/spec.ts";
import { summaryJson, summaryText } from "../nn/summary.ts";
import { ExitCode } from "./exitCodes.ts";
import { UsageError } from "./usageError.ts";

/** Options of `gradscope summary`. */
export interface SummaryCommandOptions {
  /** Config files whose `model` to summarize (with `overrides`). */
  configs: string[];
  overrides: string[];
  /** A named architecture instead of a config. */
  arch?: string;
  variant?: string;
  classes?: number;
  /** The per-example input shape as "C,H,W"; with a config, instead of loading its data. */
  input?: string;
  json?: boolean;
}

function inputShape(text: string): number[] {
  const shape = text.split(",").map((part) => Number(part.trim()));
  if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new UsageError(`gradscope: summary --input ${text}: expected the per-example shape as positive integers separated by commas, e.g. 3,224,224`);
  }
  return shape;
}

// The model spec and input shape: from the config (its data decides the shape unless --input
// does), or from --arch and --input.
function modelAndInput(options: SummaryCommandOptions): { spec: ModelSpec; shape: number[]; seed?: number } {
  if (options.configs.length > 0) {
    if (options.arch !== undefined) throw new UsageError("gradscope: summary: give either -c FILE or --arch NAME, not both");
    const loaded = loadConfig(options.configs, options.overrides);
    const shape = options.input !== undefined ? inputShape(options.input) : [...buildData(loaded).train.outputShape];
    return { spec: loaded.config.model as ModelSpec, shape, seed: loaded.config.seed };
  }
  if (options.arch === undefined) throw new UsageError("gradscope: summary needs -c FILE or --arch NAME (with --input C,H,W)");
  if (options.input === undefined) throw new UsageError(`gradscope: summary --arch ${options.arch}: needs --input, the per-example shape (e.g. 3,224,224)`);
  const spec: ModelSpec = { arch: options.arch };
  if (options.variant !== undefined) spec.variant = options.variant;
  if (options.classes !== undefined) spec.classes = options.classes;
  return { spec, shape: inputShape(options.input) };
}

/** Prints the layer table of a config's model or a named architecture (`--json`: as JSON). */
export function summaryCommand(options: SummaryCommandOptions): number {
  const { spec, shape, seed } = modelAndInput(options);
  let built: ReturnType<typeof buildModel>;
  try {
    built = buildModel(spec, shape, seed);
  } catch (error) {
    throw new UsageError(`gradscope: summary: ${(error as Error).message.replace(/^gradscope: /, "")}`);
  }
  const summary = built.model.summary();
  built.model.dispose();
  process.stdout.write(options.json ? `${JSON.stringify(summaryJson(summary), null, 2)}\n` : summaryText(summary));
  return ExitCode.ok;
}
