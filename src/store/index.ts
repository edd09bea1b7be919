export { toCsv, toJsonl, valuesByStep } from "./export.ts";
export { isPostgresUrl, type OpenRunStoreOptions, openRunStore, STORE_URL_VARIABLE } from "./openRunStore.ts";
export { PostgresRunStore } from "./postgres/postgresRunStore.ts";
export type { BucketedSeries, Changes, Cursor, HeatmapRows, HistogramAtStep, ListSeries, RunEvent, RunReader, RunStates, StepRange, ValueDistribution } from "./runReader.ts";
export { type RunKeys, RunLookupError, type RunRecord, type RunStatus, type RunStore, type StoredValue } from "./runStore.ts";
export { SERIES_PREFIXES, type SeriesFamily, seriesKey } from "./seriesKeys.ts";
export { SqliteRunStore } from "./sqliteRunStore.ts";
export { writeTfEvents } from "./tfevents.ts";
