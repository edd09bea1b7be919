import { readFileSync } from "node:fs";
import { checkDataFile } from "./dataFile.ts";
import { ArrayDataset } from "./dataset.ts";

/** How to read a CSV file: which column holds the label (or target), and whether it is a class. */
export interface CsvOptions {
  /** The label column's header name (default: the last column). */
  label?: string;
  /** Number of classes for integer labels; 0 reads the label as a float regression target. */
  classes: number;
  /**
   * The number of feature columns the file must have. With it the label column may be absent
   * (the targets then read as 0): inputs to predict on need no label.
   */
  features?: number;
}

// Decimal numbers only: an optional sign, digits with an optional decimal point, an optional
// exponent. Number() alone would also read "0x1F" (31), "0b1", "0o7", "Infinity" and "".
const decimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// A cell as a decimal number, or NaN when it is not one.
function parseDecimal(cell: string): number {
  const text = cell.trim();
  return decimal.test(text) ? Number(text) : Number.NaN;
}

/**
 * A CSV file with a header row and numeric columns: every column but the label is a feature.
 * Cells are decimal numbers (`3`, `-0.5`, `1e-3`, `.5`; surrounding spaces allowed); blank lines
 * are skipped. Errors name the path, the line in the file and the column of a value that is not
 * a number.
 */
export function loadCsv(path: string, options: CsvOptions): ArrayDataset {
  checkDataFile(path, "CSV file");
  // Each kept line with its 1-based line number in the file, so that errors point past blank lines.
  const lines = readFileSync(path, "utf8")
    .split(/\r?\n/)
    .map((text, index) => ({ text, number: index + 1 }))
    .filter((line) => line.text.trim() !== "");
  if (lines.length < 2) throw new Error(`gradscope: CSV file ${path} needs a header row and at least one data row`);
  const header = lines[0].text.split(",").map((name) => name.trim());
  const unlabeled = header.length === options.features && !(options.label !== undefined && header.includes(options.label));
  const labelColumn = unlabeled ? -1 : options.label === undefined ? header.length - 1 : header.indexOf(options.label);
  if (labelColumn < 0 && !unlabeled) throw new Error(`gradscope: CSV file ${path} has no column "${options.label}"; columns: ${header.join(", ")}`);
  const features = unlabeled ? header.length : header.length - 1;
  if (options.features !== undefined && features !== options.features) {
    throw new Error(`gradscope: CSV file ${path} has ${header.length} columns (${header.join(", ")}); expected ${options.features} features, with or without the label column`);
  }
  const rows = lines.length - 1;
  const inputs = new Float32Array(rows * features);
  const targets = options.classes > 0 ? new Int32Array(rows) : new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const { text, number } = lines[r + 1];
    const cells = text.split(",");
    if (cells.length !== header.length) throw new Error(`gradscope: ${path}:${number}: expected ${header.length} columns, found ${cells.length}`);
    let f = 0;
    for (let c = 0; c < cells.length; c++) {
      const value = parseDecimal(cells[c]);
      if (!Number.isFinite(value)) throw new Error(`gradscope: ${path}:${number}: column "${header[c]}" holds "${cells[c]}", not a decimal number`);
      if (c === labelColumn) {
        if (options.classes > 0 && (!Number.isInteger(value) || value < 0 || value >= options.classes)) {
          throw new Error(`gradscope: ${path}:${number}: label ${cells[c]} is not a class in [0, ${options.classes})`);
        }
        targets[r] = value;
      } else inputs[r * features + f++] = value;
    }
  }
  return new ArrayDataset(inputs, targets, [features], options.classes, `CSV ${path}`, options.classes > 0 ? [] : [1]);
}
