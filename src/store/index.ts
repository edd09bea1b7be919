export { toCsv, toJsonl, valuesByStep } from "./export.ts";
export { type RunRecord, type RunStatus, RunStore, type StoredValue } from "./runStore.ts";
export { writeTfEvents } from "./tfevents.ts";
