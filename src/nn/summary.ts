import { sizeOf } from "../engine/shapes.ts";
import { Conv2d, Linear } from "./layers.ts";
import type { Module } from "./module.ts";

/** One layer of a model summary. */
export interface LayerSummary {
  /** The module's dotted name (`4.0.main.0`), the prefix of its parameters' names. */
  name: string;
  /** The spec's layer type (`conv2d`, `batchnorm2d`, ...). */
  type: string;
  /** Its output shape per example. */
  outputShape: number[];
  /** Its own parameter scalars. */
  parameters: number;
  /** Multiply-adds per example (conv2d and linear layers; the others count 0, as in torchinfo's main term). */
  multiplyAdds: number;
}

/** A model's layers with their output shapes, parameters and multiply-adds, and the totals. */
export interface ModelSummary {
  /** The input shape per example it was summarized for. */
  inputShape: number[];
  /** The model's output shape per example. */
  outputShape: number[];
  /** Its layers (not the containers), in the order the model was built. */
  layers: LayerSummary[];
  /** The model's parameter scalars. */
  totalParameters: number;
  /** Multiply-adds per example, summed over the layers. */
  totalMultiplyAdds: number;
  /** The float32 parameters' size in bytes. */
  parameterBytes: number;
}

/**
 * Multiply-adds per example of a layer with output shape `outputShape`: every weight of a conv2d
 * is used once per output pixel, every weight of a linear layer once per leading position.
 */
export function multiplyAdds(module: Module, outputShape: number[]): number {
  if (module instanceof Conv2d) return module.weight.size * sizeOf(outputShape.slice(1));
  if (module instanceof Linear) return module.weight.size * sizeOf(outputShape.slice(0, -1));
  return 0;
}

/** The layers recorded while a model was built, named as the built model names them. */
export function modelSummary(model: Module, inputShape: number[], outputShape: number[], layers: Array<{ module: Module; type: string; outputShape: number[] }>): ModelSummary {
  const names = new Map(model.namedModules().map(([name, module]) => [module, name]));
  const rows = layers.map(({ module, type, outputShape: shape }) => ({
    name: names.get(module) ?? "",
    type,
    outputShape: shape,
    parameters: module.parameterCount(),
    multiplyAdds: multiplyAdds(module, shape),
  }));
  const totalParameters = model.parameterCount();
  return {
    inputShape: [...inputShape],
    outputShape: [...outputShape],
    layers: rows,
    totalParameters,
    totalMultiplyAdds: rows.reduce((total, row) => total + row.multiplyAdds, 0),
    parameterBytes: 4 * totalParameters,
  };
}

const grouped = (n: number): string => n.toLocaleString("en-US");
const shapeText = (shape: number[]): string => `[${shape.join(", ")}]`;

// 1814073344 -> "1.81 G", as torchinfo prints its totals.
function scaled(n: number): string {
  const units: Array<[number, string]> = [
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  const [size, unit] = units.find(([threshold]) => n >= threshold) ?? [1, ""];
  return `${(n / size).toFixed(2)}${unit ? ` ${unit}` : ""}`;
}

/** The summary as a text table, like Keras's `model.summary()` and torchinfo. */
export function summaryText(summary: ModelSummary): string {
  const header = ["Layer (type)", "Output shape", "Param #", "Mult-adds"];
  const rows = summary.layers.map((layer) => [`${layer.name} (${layer.type})`, shapeText(layer.outputShape), grouped(layer.parameters), grouped(layer.multiplyAdds)]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join("  ");
  const rule = "=".repeat(widths.reduce((total, width) => total + width, 0) + 2 * (widths.length - 1));
  return [
    rule,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    `Input shape: ${shapeText(summary.inputShape)}   Output shape: ${shapeText(summary.outputShape)}`,
    `Total params: ${grouped(summary.totalParameters)} (${scaled(summary.totalParameters)})`,
    `Mult-adds per example: ${grouped(summary.totalMultiplyAdds)} (${scaled(summary.totalMultiplyAdds)})`,
    `Params size: ${(summary.parameterBytes / 2 ** 20).toFixed(2)} MB (float32)`,
    rule,
    "",
  ].join("\n");
}

/** The summary with snake_case keys, for `gradscope summary --json`. */
export function summaryJson(summary: ModelSummary): Record<string, unknown> {
  return {
    input_shape: summary.inputShape,
    output_shape: summary.outputShape,
    layers: summary.layers.map((layer) => ({ name: layer.name, type: layer.type, output_shape: layer.outputShape, params: layer.parameters, mult_adds: layer.multiplyAdds })),
    total_params: summary.totalParameters,
    total_mult_adds: summary.totalMultiplyAdds,
    params_bytes: summary.parameterBytes,
  };
}
