import type { LayerRecord } from "../tensor.ts";

/** A layer kind's saved record. */
export type RecordOf<K extends LayerRecord["kind"]> = Extract<LayerRecord, { kind: K }>;

/** A rule for some layer kinds, each handed its own kind's record; the others go elsewhere. */
export type SomeKinds<Args extends unknown[], Result> = { readonly [K in LayerRecord["kind"]]?: (layer: RecordOf<K>, ...args: Args) => Result };

/** A rule for every layer kind. */
export type PerKind<Args extends unknown[], Result> = Required<SomeKinds<Args, Result>>;

/** The table's rule for `layer`'s kind, bound to it, or undefined where the table has none. */
export function ruleFor<Args extends unknown[], Result>(table: SomeKinds<Args, Result>, layer: LayerRecord): ((...args: Args) => Result) | undefined {
  // TypeScript cannot correlate table[layer.kind] with layer's narrowed type; the mapped type guarantees it.
  const rule = table[layer.kind] as ((layer: LayerRecord, ...args: Args) => Result) | undefined;
  return rule && ((...args: Args) => rule(layer, ...args));
}

/** The rule for `layer`'s kind from a table that has one for every kind, applied. */
export function applyRule<Args extends unknown[], Result>(table: PerKind<Args, Result>, layer: LayerRecord, ...args: Args): Result {
  return (ruleFor(table, layer) as (...args: Args) => Result)(...args);
}
