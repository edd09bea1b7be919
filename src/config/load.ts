import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Document, isMap, isScalar, LineCounter, parseDocument, parse as parseYaml, visit } from "yaml";
import type * as z from "zod";
import { closestName } from "../nn/spec.ts";
import { configurationMap } from "../quantities/registry.ts";
import { type Config, configSchema } from "./schema.ts";

/** A config problem the user must fix; the message names file:line:col and the field. CLI exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Path = Array<string | number>;

interface YamlSource {
  path: string;
  doc: Document;
  lines: LineCounter;
}

/** Where each part of the merged config came from: a file (with the key path inside it) or an override. */
type Origin = { source: YamlSource; path: Path } | { override: string };

/** A loaded, validated config and how to point at any of its fields. */
export interface LoadedConfig {
  config: Config;
  /** The merged config before defaults were applied (what the user wrote, resolved). */
  raw: Record<string, unknown>;
  /** "file:line:col" (or the override) where the value at `path` was written. */
  locate(path: Path): string;
}

const pathString = (path: Path) => path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${p}` : p), "");

function position(source: YamlSource, offset: number): string {
  const { line, col } = source.lines.linePos(offset);
  return `${source.path}:${line}:${col}`;
}

// ${VAR} and ${VAR:-default} in string values; a missing variable without a default is an error.
function substituteEnvironment(source: YamlSource): void {
  visit(source.doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string" || !node.value.includes("${")) return;
      node.value = node.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback: string | undefined) => {
        const value = process.env[name];
        if (value !== undefined) return value;
        if (fallback !== undefined) return fallback;
        throw new ConfigError(`${position(source, node.range?.[0] ?? 0)}: environment variable ${name} is not set (write \${${name}:-default} for a default)`);
      });
    },
  });
}

function readYaml(path: string): YamlSource {
  if (!existsSync(path)) throw new ConfigError(`${path}: config file not found`);
  const lines = new LineCounter();
  const doc = parseDocument(readFileSync(path, "utf8"), { lineCounter: lines, prettyErrors: false });
  const source = { path, doc, lines };
  const error = doc.errors[0];
  if (error) throw new ConfigError(`${position(source, error.pos[0])}: invalid YAML: ${error.message.split("\n")[0]}`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new ConfigError(`${position(source, 0)}: a config file must be a mapping of sections (model, data, training, ...)`);
  substituteEnvironment(source);
  return source;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Deep-merges `value` into `target` and records where every key came from. Mappings merge;
 * lists and scalars replace; a mapping whose `name` changes (an optimizer or scheduler
 * swapped for another) replaces the old one, whose options would not fit.
 */
// Sections whose string value names a map (`quantities: full`): a map merged onto the string
// goes onto the map it names, so `quantities=full quantities.grad_hist_1d.per_parameter=true`
// keeps the configuration.
const shorthands: Record<string, (name: string) => Record<string, unknown>> = { quantities: configurationMap };

function mergeInto(target: Record<string, unknown>, value: Record<string, unknown>, origins: Map<string, Origin>, origin: (path: Path) => Origin, path: Path = []): void {
  for (const [key, child] of Object.entries(value)) {
    const childPath = [...path, key];
    origins.set(pathString(childPath), origin(childPath));
    if (isRecord(child)) {
      const existing = target[key];
      const swapped = isRecord(existing) && "name" in child && existing.name !== child.name;
      const expand = shorthands[pathString(childPath)];
      if (typeof existing === "string" && expand) {
        try {
          target[key] = expand(existing);
        } catch (error) {
          throw new ConfigError(`${pathString(childPath)}: ${(error as Error).message.replace(/^gradscope: /, "")}`);
        }
      } else if (!isRecord(existing) || swapped) target[key] = {};
      mergeInto(target[key] as Record<string, unknown>, child, origins, origin, childPath);
    } else target[key] = structuredClone(child);
  }
}

/** Applies one file: its `extends` first (relative to it, in order), then its own content. */
function applyFile(path: string, merged: Record<string, unknown>, origins: Map<string, Origin>, chain: string[]): void {
  const absolute = resolve(path);
  if (chain.includes(absolute)) throw new ConfigError(`${path}: extends cycle: ${[...chain, absolute].join(" -> ")}`);
  const source = readYaml(path);
  const content = (source.doc.toJS() ?? {}) as Record<string, unknown>;
  const { extends: parents, ...own } = content;
  if (parents !== undefined) {
    const list = Array.isArray(parents) ? parents : [parents];
    for (const [i, parent] of list.entries()) {
      if (typeof parent !== "string")
        throw new ConfigError(`${locateIn(source, ["extends", ...(Array.isArray(parents) ? [i] : [])])}: extends: expected a file path or a list of them`);
      applyFile(resolve(dirname(path), parent), merged, origins, [...chain, absolute]);
    }
  }
  mergeInto(merged, own, origins, (p) => ({ source, path: p }));
}

/** Parses `a.b.c=value` (the value as YAML, so numbers, booleans and lists work) into the config. */
function applyOverride(override: string, merged: Record<string, unknown>, origins: Map<string, Origin>): void {
  const at = override.indexOf("=");
  if (at <= 0) throw new ConfigError(`override "${override}": expected key.path=value, e.g. training.epochs=3`);
  const keys = override.slice(0, at).split(".");
  let value: unknown;
  try {
    value = parseYaml(override.slice(at + 1));
  } catch (error) {
    throw new ConfigError(`override "${override}": the value is not valid YAML: ${(error as Error).message}`);
  }
  const nested = keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
  mergeInto(merged, nested, origins, () => ({ override }));
}

// The position of the deepest existing node on `path` in one file; for a key that the file
// has, the key itself.
function locateIn(source: YamlSource, path: Path, atKey = false): string {
  for (let length = path.length; length >= 0; length--) {
    const prefix = path.slice(0, length);
    const node = prefix.length === 0 ? source.doc.contents : source.doc.getIn(prefix, true);
    if (!(atKey && length === path.length) && node && typeof node === "object" && "range" in node && node.range) return position(source, (node.range as number[])[0]);
    if (length > 0) {
      const parent = length === 1 ? source.doc.contents : source.doc.getIn(prefix.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === prefix[length - 1]);
        if (pair && isScalar(pair.key) && pair.key.range) return position(source, pair.key.range[0]);
      }
    }
  }
  return source.path;
}

function locator(origins: Map<string, Origin>, files: string[]): (path: Path, atKey?: boolean) => string {
  return (path, atKey = false) => {
    for (let length = path.length; length >= 1; length--) {
      const origin = origins.get(pathString(path.slice(0, length)));
      if (!origin) continue;
      if ("override" in origin) return `command-line override "${origin.override}"`;
      return locateIn(origin.source, [...origin.path, ...path.slice(length)], atKey);
    }
    return files[files.length - 1] ?? "config";
  };
}

// The keys an object schema at `path` allows (following the actual value through unions), for hints.
function knownKeys(schema: z.ZodType, path: Path, value: unknown): string[] {
  let current: z.ZodType | undefined = schema;
  let data = value;
  const unwrap = (s: z.ZodType): z.ZodType => {
    const def = (s as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    return (def.type === "optional" || def.type === "default" || def.type === "nullable") && def.innerType ? unwrap(def.innerType) : s;
  };
  const objectKeys = (s: z.ZodType, v: unknown): string[] => {
    const u = unwrap(s) as unknown as { def: { type: string; options?: z.ZodType[]; discriminator?: string }; shape?: Record<string, z.ZodType> };
    if (u.def.type === "object") return Object.keys(u.shape ?? {});
    if (u.def.type === "union" && u.def.options) {
      const picked =
        u.def.discriminator && isRecord(v) ? u.def.options.filter((o) => objectKeys(o, undefined).length && optionMatches(o, u.def.discriminator as string, v)) : u.def.options;
      return [...new Set(picked.flatMap((o) => objectKeys(o, v)))];
    }
    return [];
  };
  for (const key of path) {
    if (!current) return [];
    const u = unwrap(current) as unknown as { def: { type: string; element?: z.ZodType; options?: z.ZodType[]; discriminator?: string }; shape?: Record<string, z.ZodType> };
    if (u.def.type === "array") current = u.def.element;
    else if (u.def.type === "object") current = u.shape?.[String(key)];
    else if (u.def.type === "union" && u.def.options) {
      const shapeOf = (o: z.ZodType) => (unwrap(o) as unknown as { shape?: Record<string, z.ZodType> }).shape;
      const option = u.def.options.find((o) => (u.def.discriminator ? optionMatches(o, u.def.discriminator, data) : shapeOf(o)?.[String(key)] !== undefined));
      current = option ? shapeOf(option)?.[String(key)] : undefined;
    } else return [];
    data = isRecord(data) || Array.isArray(data) ? (data as Record<string | number, unknown>)[key] : undefined;
  }
  return current ? objectKeys(current, data) : [];
}

function optionMatches(option: z.ZodType, discriminator: string, value: unknown): boolean {
  const shape = (option as unknown as { shape?: Record<string, { def: { values?: unknown[] } }> }).shape;
  const literal = shape?.[discriminator]?.def.values;
  return isRecord(value) && Array.isArray(literal) && literal.includes(value[discriminator]);
}

// The issues of the union member the value was meant for: the one whose issues reach deepest
// into the value (an option's field rather than the union's shape).
function intendedBranch(issue: z.core.$ZodIssueInvalidUnion): z.core.$ZodIssue[] {
  const depth = (issues: z.core.$ZodIssue[]) => Math.max(...issues.map((i) => i.path.length + (i.code === "invalid_type" ? 0 : 0.5)));
  const branches = issue.errors.filter((issues) => issues.length > 0);
  const best = branches.reduce((a, b) => (depth(b) > depth(a) ? b : a), branches[0] ?? []);
  // The value has none of the members' types: name them all.
  const types = branches.map((issues) => (issues.length === 1 && issues[0].code === "invalid_type" && issues[0].path.length === 0 ? issues[0].expected : null));
  if (types.every((type) => type !== null)) return [{ ...best[0], path: issue.path, message: best[0].message.replace(/expected \w+/, `expected ${types.join(" or ")}`) }];
  return best.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }));
}

function describeIssue(schema: z.ZodType, issue: z.core.$ZodIssue, raw: Record<string, unknown>, locate: (path: Path, atKey?: boolean) => string): string {
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    const branch = intendedBranch(issue);
    if (branch.length > 0) return branch.map((inner) => describeIssue(schema, inner, raw, locate)).join("\n");
  }
  const path = issue.path as Path;
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((key) => {
        const hint = closestName(key, knownKeys(schema, path, raw));
        const where = pathString([...path, key]);
        return `${locate([...path, key], true)}: ${where}: unknown key${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${knownKeys(schema, path, raw).join(", ")}`;
      })
      .join("\n");
  }
  let message = issue.message.replace(/^Invalid input: /, "");
  const received = path.reduce<unknown>((v, key) => (isRecord(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[key] : undefined), raw);
  const choices = "options" in issue ? (issue.options as unknown[]) : "values" in issue ? (issue.values as unknown[]) : undefined;
  if (choices && typeof received === "string") {
    const hint = closestName(received, choices.map(String));
    message = `got "${received}"${hint ? ` (did you mean "${hint}"?)` : ""}; expected one of ${choices.map(String).join(", ")}`;
  }
  if (issue.code === "invalid_type" && received === undefined) message = `required (expected ${issue.expected})`;
  return `${locate(path)}: ${pathString(path) || "config"}: ${message}`;
}

/**
 * Loads config files (each after its `extends`, in order), applies `key.path=value` overrides,
 * substitutes `${ENV}` variables and validates the result. Every error is a ConfigError naming
 * file:line:col (or the override), the field, and what was expected; unknown keys get a
 * "did you mean".
 */
export function loadConfig(files: string[], overrides: string[] = []): LoadedConfig {
  if (files.length === 0) throw new ConfigError("no config file given (-c FILE)");
  const merged: Record<string, unknown> = {};
  const origins = new Map<string, Origin>();
  for (const file of files) applyFile(file, merged, origins, []);
  for (const override of overrides) applyOverride(override, merged, origins);
  const locate = locator(origins, files);
  const schema = configSchema();
  const result = schema.safeParse(merged);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => describeIssue(schema, issue, merged, locate)).join("\n"));
  return { config: result.data, raw: merged, locate };
}
