import type { RunStore, StoredValue } from "./runStore.ts";

/** Every value a run logged, grouped by step: { step → { key → value } }. */
export function valuesByStep(store: RunStore, runId: string): Map<number, Record<string, StoredValue>> {
  const steps = new Map<number, Record<string, StoredValue>>();
  const put = (step: number, key: string, value: StoredValue) => {
    let entry = steps.get(step);
    if (!entry) {
      entry = {};
      steps.set(step, entry);
    }
    entry[key] = value;
  };
  const keys = store.keys(runId);
  for (const key of keys.scalars) for (const row of store.scalars(runId, key)) put(row.step, key, row.value ?? Number.NaN);
  for (const key of keys.lists) for (const row of store.lists(runId, key)) put(row.step, key, row.value);
  for (const key of keys.histograms) for (const row of store.histograms(runId, key)) put(row.step, key, { hist: row.counts, edges: row.edges });
  return new Map([...steps].sort((a, b) => a[0] - b[0]));
}

/** JSONL: one object per logged step, `{ "step": t, "<key>": value, ... }`. */
export function toJsonl(store: RunStore, runId: string): string {
  return [...valuesByStep(store, runId)]
    .map(([step, values]) => JSON.stringify({ step, ...values }))
    .join("\n")
    .concat("\n");
}

const csvCell = (value: StoredValue | undefined) => (typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : "");

/**
 * CSV in Lightning's wide format: a `step` column and one column per scalar key, one row per
 * step, empty where a key was not logged. Per-parameter lists become `<key>/<parameter name>`
 * columns (`<key>/<index>` when the run recorded no names), as in the TensorBoard export;
 * histograms are left out (JSONL and TensorBoard carry them).
 */
export function toCsv(store: RunStore, runId: string): string {
  const labels = store.getRun(runId).parameters ?? [];
  const rows = [...valuesByStep(store, runId)].map(([step, values]) => {
    const flat: Record<string, number> = {};
    for (const [key, value] of Object.entries(values)) {
      if (typeof value === "number") flat[key] = value;
      else if (Array.isArray(value)) for (const [i, v] of value.entries()) flat[`${key}/${labels[i] ?? i}`] = v;
    }
    return { step, flat };
  });
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r.flat)))].sort();
  const quote = (name: string) => (/[",\n]/.test(name) ? `"${name.replace(/"/g, '""')}"` : name);
  return [["step", ...columns].map(quote).join(","), ...rows.map((r) => [String(r.step), ...columns.map((c) => csvCell(r.flat[c]))].join(","))].join("\n").concat("\n");
}
