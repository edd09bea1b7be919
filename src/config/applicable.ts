import type { SourceSpec } from "../data/sources.ts";
import type { Config } from "./schema.ts";

type Source = SourceSpec["source"];
// The options a source's own spec has, besides `classes`, which every source's data set has.
type OwnOptions<S extends Source> = Exclude<keyof Extract<SourceSpec, { source: S }>, "source" | "classes">;

/**
 * The `data` fields each source reads, besides those every source reads. `data` is one flat
 * object, so its defaults fill in every source's fields; these say which of them a run uses.
 * Typed by the sources' specs, the table names every option of each source and no other.
 */
const sourceOptions: { [S in Source]: { [O in OwnOptions<S>]-?: true } } = {
  "fashion-mnist": { path: true },
  "fashion-mnist-sample": {},
  idx: { path: true, train_images: true, train_labels: true, test_images: true, test_labels: true, transpose: true },
  cifar10: { path: true },
  cifar100: { path: true, label: true },
  csv: { path: true, test_path: true, label: true },
  blobs: { samples: true, dims: true, std: true },
  spirals: { samples: true, noise: true },
  regression: { samples: true, dims: true, noise: true },
};

const sourceOnly = new Set(Object.values(sourceOptions).flatMap((options) => Object.keys(options)));

// Whether a field of `data` applies to the run: a source option of its source, `test_fraction`
// only where the source has no test set of its own (a CSV file without test_path), and the rest.
function dataFieldApplies(data: Config["data"], field: string): boolean {
  if (field === "test_fraction") return data.source === "csv" && data.test_path === undefined;
  return !sourceOnly.has(field) || field in sourceOptions[data.source];
}

// The section without the fields `drop` names, in their order.
const without = (section: object, drop: (field: string) => boolean) => Object.fromEntries(Object.entries(section).filter(([field]) => !drop(field)));

/**
 * The resolved config as `gradscope train --print-config` shows it: only the fields that apply to
 * the run. Fields of a choice the config did not make are left out: the other data sources'
 * (a spirals config showed idx file names and CSV options), `training.label_smoothing` with a loss
 * other than cross_entropy, and `callbacks.checkpoint.mode` without a monitor. Loaded again, it
 * resolves to the same config but for those fields, and trains the same run.
 */
export function applicableConfig(config: Config): Record<string, unknown> {
  const { data, training, callbacks } = config;
  return {
    ...config,
    data: without(data, (field) => !dataFieldApplies(data, field)),
    training: without(training, (field) => field === "label_smoothing" && training.loss !== "cross_entropy"),
    callbacks: { ...callbacks, checkpoint: without(callbacks.checkpoint, (field) => field === "mode" && callbacks.checkpoint.monitor == null) },
  };
}
