// The names of a run's series: the one place their families' prefixes are spelled. The writers
// (the store logger, the system monitor), the store's queries and the dashboard page all build
// and read keys through it, so this module imports nothing: tsc compiles it for the page as well
// (src/dashboard/ui/tsconfig.json), and the dashboard serves it beside the page's modules.

/** Each family of series and the prefix of its keys. */
export const SERIES_PREFIXES = {
  /** Quantity values (Cockpit's diagnostics), by the quantity's name. */
  quantity: "quantities/",
  /** Each training step's logs (loss, lr, gradient norm). */
  train: "train/",
  /** Each epoch's logs, at the step the epoch ended. */
  epoch: "epoch/",
  /** Optimizer hyperparameters other than lr, once a schedule moves them. */
  hyper: "hyper/",
  /** Samples of the training process (CPU, memory, throughput). */
  system: "system/",
} as const;

/** A family of series. */
export type SeriesFamily = keyof typeof SERIES_PREFIXES;

const family =
  (prefix: string) =>
  (name: string, part?: string): string =>
    part === undefined ? `${prefix}${name}` : `${prefix}${name}/${part}`;

/**
 * The key of a series from its family and name, and of a part of a series (a quantity that
 * records several values, such as `GradientNoiseScale`'s smoothed estimate or `GradHist1d`'s
 * per-parameter histograms, stores each under its own name followed by `/` and the part).
 */
export const seriesKey = {
  quantity: family(SERIES_PREFIXES.quantity),
  train: family(SERIES_PREFIXES.train),
  epoch: family(SERIES_PREFIXES.epoch),
  hyper: family(SERIES_PREFIXES.hyper),
  system: family(SERIES_PREFIXES.system),
} satisfies Record<SeriesFamily, (name: string, part?: string) => string>;

/** The family of a key, or null for a key outside every family. */
export function seriesFamily(key: string): SeriesFamily | null {
  for (const [name, prefix] of Object.entries(SERIES_PREFIXES)) if (key.startsWith(prefix)) return name as SeriesFamily;
  return null;
}

/** A key without its family's prefix (`train/loss` → `loss`); other keys as they are. */
export function seriesName(key: string): string {
  const found = seriesFamily(key);
  return found === null ? key : key.slice(SERIES_PREFIXES[found].length);
}

/**
 * The keys that start with `prefix` as a half-open range [from, to) of strings, for an index
 * range scan: `to` is the prefix with its last character incremented.
 */
export function keyRange(prefix: string): { from: string; to: string } {
  const last = prefix.charCodeAt(prefix.length - 1);
  return { from: prefix, to: `${prefix.slice(0, -1)}${String.fromCharCode(last + 1)}` };
}

/** The series whose last step is a run's step count (logged every training step). */
export const STEP_COUNT_KEY = seriesKey.train("loss");
