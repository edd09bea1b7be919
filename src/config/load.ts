import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument, parse as parseYaml, visit } from "yaml";
import { configurationMap } from "../quantities/registry.ts";
import { describeIssue, type Locate, unionFormsErrorMap } from "./issues.ts";
import { type ConfigPath, pathString, valueAt } from "./path.ts";
import { type Config, configSchema } from "./schema.ts";

/** A config problem the user must fix; the message names file:line:col and the field. CLI exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

interface YamlSource {
  path: string;
  doc: Document;
  lines: LineCounter;
}

/** Where each part of the merged config came from: a file (with the key path inside it) or an override. */
type Origin = { source: YamlSource; path: ConfigPath } | { override: string };

/** A loaded, validated config and how to point at any of its fields. */
export interface LoadedConfig {
  /** The validated config, every default filled in. */
  config: Config;
  /** The merged config before defaults were applied (what the user wrote, resolved). */
  raw: Record<string, unknown>;
  /** "file:line:col" (or the override) where the value at `path` was written. */
  locate(path: ConfigPath): string;
}

function position(source: YamlSource, offset: number): string {
  const { line, col } = source.lines.linePos(offset);
  return `${source.path}:${line}:${col}`;
}

const substitution = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const wholeSubstitution = new RegExp(`^${substitution.source}$`);

// The substituted text of an unquoted scalar that is one ${VAR} alone is read as YAML, so that
// `epochs: ${EPOCHS:-3}` is a number and `shuffle: ${SHUFFLE:-true}` a boolean; inside a longer
// string, or in quotes, a substitution stays text.
function substitutedValue(text: string, plain: boolean, original: string): unknown {
  if (!plain || !wholeSubstitution.test(original)) return text;
  try {
    return parseYaml(text);
  } catch {
    return text;
  }
}

// ${VAR} and ${VAR:-default} in scalar values; a missing variable without a default is an error.
function substituteEnvironment(source: YamlSource): void {
  visit(source.doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string" || !node.value.includes("${")) return;
      const original = node.value;
      const text = original.replace(substitution, (_match, name: string, fallback: string | undefined) => {
        const value = process.env[name];
        if (value !== undefined) return value;
        if (fallback !== undefined) return fallback;
        throw new ConfigError(`${position(source, node.range?.[0] ?? 0)}: environment variable ${name} is not set (write \${${name}:-default} for a default)`);
      });
      node.value = substitutedValue(text, node.type === "PLAIN", original);
    },
  });
}

// The file's content as plain values; the yaml library refuses aliases that would expand
// without bound (a "billion laughs" file), which is the file's fault, so a config error.
function contentOf(source: YamlSource): unknown {
  try {
    return source.doc.toJS() ?? {};
  } catch (error) {
    throw new ConfigError(`${position(source, 0)}: invalid YAML: ${(error as Error).message}`);
  }
}

// Far more than any config; `-c /dev/zero` read on until it had taken 9 GB in 12 s.
const MAX_CONFIG_BYTES = 16 * 2 ** 20;

// The file's text, read up to MAX_CONFIG_BYTES (a device or pipe may never end).
function readBounded(path: string): string {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    for (let read = 1; read > 0 && length < buffer.length; length += read) read = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > MAX_CONFIG_BYTES) throw new ConfigError(`${path}: longer than ${MAX_CONFIG_BYTES / 2 ** 20} MiB; expected a YAML config file`);
    return buffer.toString("utf8", 0, length);
  } finally {
    closeSync(fd);
  }
}

function readYaml(path: string): YamlSource {
  if (!existsSync(path)) throw new ConfigError(`${path}: config file not found`);
  if (statSync(path).isDirectory()) throw new ConfigError(`${path}: is a directory; expected a YAML config file`);
  const lines = new LineCounter();
  const doc = parseDocument(readBounded(path), { lineCounter: lines, prettyErrors: false });
  const source = { path, doc, lines };
  const error = doc.errors[0];
  if (error) throw new ConfigError(`${position(source, error.pos[0])}: invalid YAML: ${error.message.split("\n")[0]}`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new ConfigError(`${position(source, 0)}: a config file must be a mapping of sections (model, data, training, ...)`);
  substituteEnvironment(source);
  return source;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// The kind of a mapping that a mapping of another kind replaces instead of merging into, since
// their options would not fit: an optimizer or scheduler by its `name`, a model by `layers` or
// `arch`.
function kind(mapping: Record<string, unknown>): string | undefined {
  if ("name" in mapping) return `name ${String(mapping.name)}`;
  if ("layers" in mapping) return "layers";
  if ("arch" in mapping) return "arch";
  return undefined;
}

// Sections whose string value names a map (`quantities: full`): a map merged onto the string
// goes onto the map it names, so `quantities=full quantities.grad_hist_1d.per_parameter=true`
// keeps the configuration.
const shorthands: Record<string, (name: string) => Record<string, unknown>> = { quantities: configurationMap };

const notAKey = "not a config key (it would change every object)";

/**
 * Deep-merges `value` into `target` and records where each key came from (where `origin` names
 * a source for it). Mappings merge; lists and scalars replace; a mapping of another kind (see
 * `kind`) replaces the old one.
 */
function mergeInto(
  target: Record<string, unknown>,
  value: Record<string, unknown>,
  origins: Map<string, Origin>,
  origin: (path: ConfigPath) => Origin | undefined,
  path: ConfigPath = [],
): void {
  for (const [key, child] of Object.entries(value)) {
    const childPath = [...path, key];
    const source = origin(childPath);
    // `target.__proto__ = ...` would set the prototype, and merging into it every object's.
    if (key === "__proto__") {
      const place = source && ("override" in source ? `command-line override "${source.override}"` : locateIn(source.source, source.path, true));
      throw new ConfigError(`${place ? `${place}: ` : ""}${pathString(childPath)}: ${notAKey}`);
    }
    if (source) origins.set(pathString(childPath), source);
    if (isRecord(child)) {
      const existing = target[key];
      const expand = shorthands[pathString(childPath)];
      if (typeof existing === "string" && expand) {
        try {
          target[key] = expand(existing);
        } catch (error) {
          throw new ConfigError(`${pathString(childPath)}: ${(error as Error).message.replace(/^gradscope: /, "")}`);
        }
      } else if (!isRecord(existing) || (kind(child) !== undefined && kind(child) !== kind(existing))) target[key] = {};
      mergeInto(target[key] as Record<string, unknown>, child, origins, origin, childPath);
    } else target[key] = structuredClone(child);
  }
}

/**
 * Where a config comes from: a file, or a mapping inside a file (a sweep file's inline `base`,
 * at `section`), whose `extends` are relative to that file and whose errors point into it.
 */
export type ConfigSource = string | { file: string; section: ConfigPath };

/** Applies one file (or a section of one): its `extends` first (relative to it, in order), then its own content. */
function applyFile(from: ConfigSource, merged: Record<string, unknown>, origins: Map<string, Origin>, chain: string[]): YamlSource {
  const path = typeof from === "string" ? from : from.file;
  const section = typeof from === "string" ? [] : from.section;
  const absolute = resolve(path);
  if (chain.includes(absolute)) throw new ConfigError(`${path}: extends cycle: ${[...chain, absolute].join(" -> ")}`);
  const source = readYaml(path);
  const content = valueAt(contentOf(source), section) ?? {};
  if (!isRecord(content)) throw new ConfigError(`${locateIn(source, section)}: ${pathString(section)}: expected a mapping of config sections (model, data, training, ...)`);
  const { extends: parents, ...own } = content;
  if (parents !== undefined) {
    const list = Array.isArray(parents) ? parents : [parents];
    for (const [i, parent] of list.entries()) {
      if (typeof parent !== "string")
        throw new ConfigError(`${locateIn(source, [...section, "extends", ...(Array.isArray(parents) ? [i] : [])])}: extends: expected a file path or a list of them`);
      applyFile(resolve(dirname(path), parent), merged, origins, [...chain, absolute]);
    }
  }
  mergeInto(merged, own, origins, (p) => ({ source, path: [...section, ...p] }));
  return source;
}

/**
 * Reads a YAML file that is not a training config (a sweep file) with the config's rules
 * (`${ENV}` substitution, a mapping at the top): its content, and "file:line:col" of any path
 * in it, for messages such as `describeIssue`'s.
 */
export function readYamlFile(path: string): { content: Record<string, unknown>; locate: Locate } {
  const source = readYaml(path);
  return { content: contentOf(source) as Record<string, unknown>, locate: (at, atKey) => locateIn(source, at, atKey) };
}

/** Parses `a.b.c=value` (the value as YAML, so numbers, booleans and lists work) into the config. */
function applyOverride(override: string, merged: Record<string, unknown>, origins: Map<string, Origin>): void {
  const at = override.indexOf("=");
  if (at <= 0) throw new ConfigError(`override "${override}": expected key.path=value, e.g. training.epochs=3`);
  const keys: ConfigPath = override.slice(0, at).split(".");
  if (keys.includes("")) throw new ConfigError(`override "${override}": expected key.path=value with no empty part in key.path, e.g. training.epochs=3`);
  if (keys.includes("__proto__")) throw new ConfigError(`command-line override "${override}": ${pathString(keys.slice(0, keys.indexOf("__proto__") + 1))}: ${notAKey}`);
  // A key path through a list (`model.hidden.0=3`) would replace the list with a mapping {0: 3}.
  for (let length = 1; length < keys.length; length++) {
    const list = pathString(keys.slice(0, length));
    if (Array.isArray(valueAt(merged, keys.slice(0, length))))
      throw new ConfigError(`command-line override "${override}": ${list} is a list, which an override replaces whole (${list}=[...]); expected a key path through mappings`);
  }
  let value: unknown;
  try {
    value = parseYaml(override.slice(at + 1));
  } catch (error) {
    throw new ConfigError(`override "${override}": the value is not valid YAML: ${(error as Error).message}`);
  }
  const nested = keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
  // An override answers for the field it sets and everything below it, not for the mappings
  // above (`data.path=X` is not to blame for a missing `data.classes`).
  mergeInto(merged, nested, origins, (at) => (at.length >= keys.length ? { override } : undefined));
}

// The position of `path` in one file: its value (or with `atKey` its key) where the file has
// it, else the key of the nearest parent the file has, else the file's start.
function locateIn(source: YamlSource, path: ConfigPath, atKey = false): string {
  const node = path.length === 0 ? source.doc.contents : source.doc.getIn(path, true);
  if (!atKey && node && typeof node === "object" && "range" in node && node.range) return position(source, (node.range as number[])[0]);
  for (let length = path.length; length >= 1; length--) {
    const key = path[length - 1];
    const parent = length === 1 ? source.doc.contents : source.doc.getIn(path.slice(0, length - 1), true);
    const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined;
    if (pair && isScalar(pair.key) && pair.key.range) return position(source, pair.key.range[0]);
    const item = isSeq(parent) && typeof key === "number" ? parent.items[key] : undefined;
    if (item && typeof item === "object" && "range" in item && item.range) return position(source, (item.range as number[])[0]);
  }
  return position(source, source.doc.contents?.range?.[0] ?? 0);
}

// A field is blamed on the source that wrote it or its nearest parent (an override only on the
// fields it sets); where none did, on an override that set a field below it (`trainig.epochs=3`
// made the unknown key `trainig`), else on the last file.
function locator(origins: Map<string, Origin>, lastFile: YamlSource): Locate {
  return (path, atKey = false) => {
    for (let length = path.length; length >= 1; length--) {
      const origin = origins.get(pathString(path.slice(0, length)));
      if (!origin) continue;
      if ("override" in origin) return `command-line override "${origin.override}"`;
      return locateIn(origin.source, [...origin.path, ...path.slice(length)], atKey);
    }
    const field = pathString(path);
    for (const [key, origin] of origins)
      if ("override" in origin && (key.startsWith(`${field}.`) || key.startsWith(`${field}[`))) return `command-line override "${origin.override}"`;
    return locateIn(lastFile, path, atKey);
  };
}

/**
 * Loads config files (each after its `extends`, in order), applies `key.path=value` overrides,
 * substitutes `${ENV}` variables and validates the result. Every error is a ConfigError naming
 * file:line:col (or the override), the field, and what was expected; unknown keys get a
 * "did you mean".
 */
export function loadConfig(files: ConfigSource[], overrides: string[] = []): LoadedConfig {
  if (files.length === 0) throw new ConfigError("no config file given (-c FILE)");
  const merged: Record<string, unknown> = {};
  const origins = new Map<string, Origin>();
  const sources = files.map((file) => applyFile(file, merged, origins, []));
  for (const override of overrides) applyOverride(override, merged, origins);
  const locate = locator(origins, sources[sources.length - 1]);
  const schema = configSchema();
  const result = schema.safeParse(merged, { error: unionFormsErrorMap });
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, schema, merged, locate)).join("\n"));
  return { config: result.data, raw: merged, locate };
}
