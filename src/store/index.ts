export { toCsv, toJsonl, valuesByStep } from "./export.ts";
export type { BucketedSeries, Changes, Cursor, HeatmapRows, HistogramAtStep, ListSeries, RunEvent, RunReader, RunStates, StepRange, ValueDistribution } from "./runReader.ts";
export { type RunRecord, type RunStatus, RunStore, type StoredValue } from "./runStore.ts";
export { SERIES_PREFIXES, type SeriesFamily, seriesKey } from "./seriesKeys.ts";
export { writeTfEvents } from "./tfevents.ts";
