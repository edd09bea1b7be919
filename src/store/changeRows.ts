import type { Changes, Cursor } from "./runReader.ts";

/** Reads a table's new rows past the cursor: the listed columns of each, in row order. */
export type NewRows = <T extends unknown[]>(table: keyof Cursor, columns: string) => T[];

/**
 * The live stream's changes from each table's new rows (as both readers fetch them in their own
 * SQL): scalar points, list points with their values parsed, histogram notices and events.
 */
export function changesFrom(rows: NewRows): Changes {
  const scalars = rows<[string, string, number, number | null]>("scalars", "run_id, key, step, value");
  const lists = rows<[string, string, number, string]>("lists", "run_id, key, step, value");
  const histograms = rows<[string, string, number]>("histograms", "run_id, key, step");
  const events = rows<[string, number | null, number, string, string]>("events", "run_id, step, wall_time, kind, message");
  return {
    scalars,
    lists: lists.map(([run, key, step, value]) => [run, key, step, JSON.parse(value)]),
    histograms,
    events: events.map(([run, step, wallTime, kind, message]) => ({ run, step, wallTime, kind, message })),
  };
}
