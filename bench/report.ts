// How a measured row is printed: a markdown table line, or one JSON object.
import type { Measured, Ratio } from "./registry.ts";

/** Where the figures were taken, as each JSON row carries it. */
export interface BenchHost {
  cpu: string;
  /** The engine's kernel build: relaxed-simd or simd. */
  kernels: string;
}

/** A row as `--json` prints it, one object a line. */
export interface JsonRow {
  name: string;
  value: number;
  unit: string;
  /** The ratio as a multiple (0.84 for 84%), or null when the row reports none. */
  ratio: number | null;
  /** What the ratio is a multiple of ("1 thread", "tfjs wasm"). */
  ratioOf: string | null;
  note: string | null;
  cpu: string;
  threads: number;
  kernels: string;
}

/** The table's first lines. */
export const tableHeader = "| benchmark | threads | value | unit | ratio |\n|---|---:|---:|---|---|";

function ratioText(ratio: Ratio): string {
  return ratio.percent ? `${(100 * ratio.value).toFixed(0)}% of ${ratio.of}` : `${ratio.value.toFixed(2)}x ${ratio.of}`;
}

/** A measured row as a line of the markdown table. */
export function tableLine(name: string, threads: number, measured: Measured): string {
  const ratio = [measured.ratio ? ratioText(measured.ratio) : "", measured.note ? (measured.ratio ? `(${measured.note})` : measured.note) : ""].filter(Boolean).join(" ");
  return `| ${name} | ${threads} | ${measured.value.toFixed(measured.digits ?? 1)} | ${measured.unit} | ${ratio} |`;
}

/** A measured row as `--json` prints it. */
export function jsonRow(name: string, threads: number, measured: Measured, host: BenchHost): JsonRow {
  return {
    name,
    value: measured.value,
    unit: measured.unit,
    ratio: measured.ratio?.value ?? null,
    ratioOf: measured.ratio?.of ?? null,
    note: measured.note ?? null,
    cpu: host.cpu,
    threads,
    kernels: host.kernels,
  };
}
