/** A field's place in a config: `["data", "transforms", 0]` is `data.transforms[0]`. */
export type ConfigPath = Array<string | number>;

/** `data.transforms[0]`, the spelling messages and override keys use. */
export const pathString = (path: ConfigPath) => path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${p}` : p), "");

/** The value at `path` inside `root`, or undefined where the path leaves it. */
export function valueAt(root: unknown, path: ConfigPath): unknown {
  return path.reduce<unknown>((value, key) => (typeof value === "object" && value !== null ? (value as Record<string | number, unknown>)[key] : undefined), root);
}
