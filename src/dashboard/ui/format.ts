// Small helpers shared by the page's modules: numbers, colors, smoothing and downloads.

// `significant` digits, exponent form (with `exponentSignificant` digits) for very large or small values.
function compact(value: number, significant: number, exponentSignificant: number): string {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(exponentSignificant - 1);
  return Number(value.toPrecision(significant)).toString();
}

/** A compact number: 4 significant digits, exponent form for very large or small values. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return compact(value, 4, 3);
}

/**
 * An axis's tick labels: the fewest significant digits that tell every tick from the others
 * (0.3001 and 0.3002 are not both "0.3"), none for the ticks the chart left out (null: uPlot
 * thins crowded log-axis ticks that way).
 */
export function tickLabels(ticks: ReadonlyArray<number | null>): string[] {
  const shown = ticks.filter((v): v is number => v !== null && Number.isFinite(v));
  let digits = 1;
  while (digits < 17 && new Set(shown.map((v) => compact(v, digits, digits))).size < new Set(shown).size) digits++;
  return ticks.map((v) => (v !== null && Number.isFinite(v) ? compact(v, digits, digits) : ""));
}

/** A CSS custom property of the current theme (e.g. `--text`). */
export function themeColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

const palette = ["#e3713a", "#3f7fe8", "#2aa876", "#c94fb4", "#c9a227", "#5bc0d6", "#8c6bd8", "#d65b5b", "#7a9a3a", "#9a7a5a"];

/** The color of the i-th series (runs, parameters). */
export function seriesColor(i: number): string {
  return palette[i % palette.length];
}

/** Exponential moving average with bias correction (as TensorBoard's smoothing); nulls pass through. */
export function ema(values: ReadonlyArray<number | null>, weight: number): Array<number | null> {
  if (weight <= 0) return values.slice();
  const out: Array<number | null> = [];
  let average = 0;
  let count = 0;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) {
      out.push(null);
      continue;
    }
    average = average * weight + (1 - weight) * v;
    count++;
    out.push(average / (1 - weight ** count));
  }
  return out;
}

/** A perceptual color ramp (dark blue to yellow, close to viridis) for t in [0, 1]. */
export function ramp(t: number): string {
  const stops = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Offers `content` as a file download. */
export function download(name: string, content: Blob | string): void {
  const blob = typeof content === "string" ? new Blob([content], { type: "text/csv" }) : content;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// A CSV cell (RFC 4180): text holding a comma, a quote or a line break is quoted.
const cell = (value: number | string | null | undefined) => {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** Columns of equal length as CSV text (nulls as empty cells). */
export function toCsv(header: string[], columns: ReadonlyArray<ReadonlyArray<number | string | null | undefined>>): string {
  const rows = [header.join(",")];
  const length = Math.max(0, ...columns.map((c) => c.length));
  for (let i = 0; i < length; i++) rows.push(columns.map((c) => cell(c[i])).join(","));
  return `${rows.join("\n")}\n`;
}

/** A file-name-safe version of a label. */
export function slug(text: string): string {
  return text.replace(/[^\w.-]+/g, "_");
}
