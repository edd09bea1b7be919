import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import type { TrainingSetup } from "../config/build.ts";
import { loadCsv } from "../data/csv.ts";
import { ArrayDataset, type Dataset } from "../data/dataset.ts";
import { readIdxImages } from "../data/idx.ts";
import { DataLoader } from "../data/loader.ts";
import { createTransform, type TransformSpec } from "../data/transforms.ts";
import { softmax } from "../engine/ops/softmax.ts";
import { sigmoid } from "../engine/ops/unary.ts";
import { scope } from "../engine/scope.ts";
import { shapeString, sizeOf } from "../engine/shapes.ts";
import { Tensor } from "../engine/tensor.ts";
import { argmaxRow } from "../metrics/metric.ts";
import { writeFileAtomic } from "../train/files.ts";
import type { LossSpec } from "../train/losses.ts";
import { ExitCode } from "./exitCodes.ts";
import { missingCheckpointMessage } from "./missingCheckpoint.ts";
import { type EvalCommandOptions, withCheckpoint } from "./train.ts";
import { UsageError } from "./usageError.ts";

/** Options of `gradscope predict`. */
export interface PredictCommandOptions extends EvalCommandOptions {
  /** An IDX images file, or a `.csv` file with the training CSV's columns; the config's test set when absent. */
  input?: string;
  /** The CSV file of predictions to write. */
  out: string;
}

// Bad input named by the command-line argument it came from; the CLI exits with 2.
const argumentError = (argument: string, message: string) => new UsageError(`gradscope: ${argument}: ${message.replace(/^gradscope: /, "")}`);

// Whether two paths name one existing file (also through links).
function sameFile(a: string, b: string): boolean {
  const [first, second] = [statSync(a, { throwIfNoEntry: false }), statSync(b, { throwIfNoEntry: false })];
  return first !== undefined && second !== undefined && first.dev === second.dev && first.ino === second.ino;
}

// Refuses a missing --checkpoint or --input and an --out that cannot be written before any work
// is done, so that a mistyped path costs no model building.
function checkPaths(options: PredictCommandOptions): void {
  if (!existsSync(options.checkpoint)) throw argumentError(`--checkpoint ${options.checkpoint}`, missingCheckpointMessage(options.checkpoint));
  if (options.input !== undefined && !existsSync(options.input)) throw argumentError(`--input ${options.input}`, "does not exist");
  const { out } = options;
  if (existsSync(out) && statSync(out).isDirectory()) throw argumentError(`--out ${out}`, "is a folder; expected a file name");
  // A slip of the argument order (`--out model.yaml`) must not replace the config, checkpoint or
  // input the predictions are made from.
  const inputs: Array<[string, string | undefined]> = [
    ...options.configs.map((config): [string, string] => ["-c", config]),
    ["--checkpoint", options.checkpoint],
    ["--input", options.input],
  ];
  for (const [argument, path] of inputs) {
    if (path !== undefined && sameFile(out, path)) throw argumentError(`--out ${out}`, `is the ${argument} file ${path}; expected a new file name for the predictions`);
  }
  const folder = dirname(resolve(out));
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw argumentError(`--out ${out}`, `the folder ${folder} does not exist`);
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    throw argumentError(`--out ${out}`, `the folder ${folder} is not writable`);
  }
}

// The examples of an --input file, before the config's transforms.
function readInput(path: string, setup: TrainingSetup): Dataset {
  const { data } = setup.config;
  if (extname(path).toLowerCase() === ".csv") {
    return loadCsv(path, { label: data.label, classes: 0, features: sizeOf(setup.data.train.outputShape) });
  }
  const images = readIdxImages(path);
  return new ArrayDataset(images.inputs, new Float32Array(images.count), images.inputShape, 0, `--input ${path}`);
}

// The examples to predict on, transformed as in evaluation (the config's transforms; no augmentation).
function inputLoader(path: string | undefined, setup: TrainingSetup): DataLoader {
  if (path === undefined) return setup.data.test;
  const { data } = setup.config;
  let loader: DataLoader;
  try {
    const transforms = data.transforms.map((spec) => createTransform(spec as TransformSpec));
    loader = new DataLoader(readInput(path, setup), { batchSize: data.eval_batch_size, transforms });
  } catch (error) {
    throw argumentError(`--input ${path}`, (error as Error).message);
  }
  const expected = setup.data.train.outputShape;
  if (shapeString(loader.outputShape) !== shapeString(expected)) {
    throw argumentError(
      `--input ${path}`,
      `its examples are ${shapeString(loader.dataset.inputShape)} (${shapeString(loader.outputShape)} after the config's transforms), but the model takes ${shapeString(expected)}`,
    );
  }
  return loader;
}

// Every example of a loader, transformed, in one tensor [N, ...example].
function gatherInputs(loader: DataLoader): Tensor {
  const exampleSize = sizeOf(loader.outputShape);
  const inputs = new Tensor([loader.dataset.length, ...loader.outputShape], "float32", "prediction inputs");
  let offset = 0;
  for (const batch of loader.batches(0, 0, (size) => inputs.data.subarray(offset, offset + size * exampleSize))) offset += batch.size * exampleSize;
  return inputs;
}

// The shortest decimal that reads back as the same float32.
function float32Text(value: number): string {
  for (let digits = 1; digits < 9; digits++) {
    const text = Number(value.toPrecision(digits));
    if (Math.fround(text) === value) return String(text);
  }
  return String(Number(value.toPrecision(9)));
}

// What a row holds for each example: `width` values named `name`_k, led by their argmax (the
// class) when `classified`.
interface PredictionColumns {
  name: "p" | "value";
  values: Float32Array;
  width: number;
  classified: boolean;
}

function predictionColumns(outputs: Tensor, loss: LossSpec["name"]): PredictionColumns {
  const width = outputs.shape[0] === 0 ? 0 : outputs.size / outputs.shape[0];
  if (loss === "mse") return { name: "value", values: outputs.data, width, classified: false };
  if (loss === "cross_entropy") return { name: "p", values: softmax(outputs).data, width, classified: true };
  const positive = sigmoid(outputs).data;
  if (width !== 1) return { name: "p", values: positive, width, classified: false };
  const values = new Float32Array(2 * positive.length);
  for (let i = 0; i < positive.length; i++) values.set([1 - positive[i], positive[i]], 2 * i);
  return { name: "p", values, width: 2, classified: true };
}

/**
 * Model outputs [N, ...] as CSV text, one row per example. Classification (cross_entropy):
 * `index,class,p_0,…,p_{C-1}`, the softmax probabilities and their argmax. One logit under
 * bce_with_logits: `index,class,p_0,p_1` with p_1 = sigmoid(logit), class 1 when the logit is
 * positive; several logits under bce_with_logits are independent labels: `index,p_0,…`, their
 * sigmoids. Regression (mse): `index,value_0,…`, the outputs. Values are the shortest decimals
 * that read back as the same float32.
 */
function predictionsCsv(outputs: Tensor, loss: LossSpec["name"]): string {
  return scope(() => {
    const { name, values, width, classified } = predictionColumns(outputs, loss);
    const header = ["index", ...(classified ? ["class"] : []), ...Array.from({ length: width }, (_, k) => `${name}_${k}`)];
    const lines = [header.join(",")];
    for (let i = 0; i < outputs.shape[0]; i++) {
      const row = Array.from(values.subarray(i * width, (i + 1) * width), float32Text);
      lines.push([String(i), ...(classified ? [String(argmaxRow(values, i, width))] : []), ...row].join(","));
    }
    return `${lines.join("\n")}\n`;
  });
}

/**
 * `gradscope predict`: the model of a config with a checkpoint's weights, applied to an IDX or
 * CSV file (or the config's test set) in eval mode; writes one CSV row per example (see
 * `predictionsCsv`) atomically, so a failure leaves any earlier file as it was. A missing or
 * unreadable input, inputs of the wrong shape for the model and an --out whose folder is missing
 * or not writable are UsageErrors naming the argument; a checkpoint that does not fit the
 * config's model is a CheckpointError (both exit with 2).
 */
export function predictCommand(options: PredictCommandOptions): number {
  checkPaths(options);
  return withCheckpoint(options, (setup) => {
    const loader = inputLoader(options.input, setup);
    const text = scope(() => {
      const outputs = setup.model.predict(gatherInputs(loader), { batchSize: setup.config.data.eval_batch_size });
      return predictionsCsv(outputs, setup.config.training.loss);
    });
    try {
      writeFileAtomic(options.out, text);
    } catch (error) {
      // Found writable at the start: a failure now is an I/O failure of the run (exit 1), not a usage error.
      throw new Error(`gradscope: --out ${options.out}: cannot write it: ${(error as Error).message}`);
    }
    process.stdout.write(`wrote ${loader.dataset.length} predictions of ${loader.dataset.description} to ${options.out}\n`);
    return ExitCode.ok;
  });
}
