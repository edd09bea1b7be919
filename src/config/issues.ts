import type * as z from "zod";
import { closestName } from "../nn/spec.ts";
import { type ConfigPath, pathString, valueAt } from "./path.ts";

/** "file:line:col" (or the override) of a field; `atKey` points at its key rather than its value. */
export type Locate = (path: ConfigPath, atKey?: boolean) => string;

// The parts of a zod schema's definition that messages need (zod 4's `def`).
interface SchemaDefinition {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  items?: z.ZodType[];
  options?: z.ZodType[];
  discriminator?: string;
  entries?: Record<string, string | number>;
  values?: unknown[];
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
}

const definition = (schema: z.ZodType) => (schema as unknown as { def: SchemaDefinition }).def;
// ' (did you mean "x"?)' where one of the candidates is close to the value, else nothing.
function suggestion(value: string, candidates: readonly string[]): string {
  const hint = closestName(value, candidates);
  return hint ? ` (did you mean "${hint}"?)` : "";
}
// YAML's spelling of the numbers JSON has none for (`.inf`, `-.inf`, `.nan`).
const yamlNumber = (value: number) => (Number.isNaN(value) ? ".nan" : value > 0 ? ".inf" : "-.inf");
const quoted = (value: unknown) => (typeof value === "string" ? `"${value}"` : typeof value === "number" && !Number.isFinite(value) ? yamlNumber(value) : JSON.stringify(value));

// "required", or 'got "x"' with a did-you-mean among the choices.
const received = (value: unknown, choices: readonly string[]) =>
  value === undefined ? "required" : `got ${quoted(value)}${typeof value === "string" ? suggestion(value, choices) : ""}`;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isOptional = (schema: z.ZodType) => ["optional", "default", "nullable"].includes(definition(schema).type);
const unwrap = (schema: z.ZodType): z.ZodType => (isOptional(schema) && definition(schema).innerType ? unwrap(definition(schema).innerType as z.ZodType) : schema);

// The literal values of a discriminated union's options, in order.
function discriminatorValues(def: SchemaDefinition): unknown[] {
  return (def.options ?? []).flatMap((option) => {
    const field = definition(unwrap(option)).shape?.[def.discriminator as string];
    return field ? (definition(unwrap(field)).values ?? []) : [];
  });
}

/**
 * What a schema accepts, written the way a config file writes it: `mlp | lenet5`,
 * `{arch: mlp | lenet5, hidden?, classes?}`, `[number, number]`, `{name: sgd | adam, ...}`.
 */
export function expectedForm(schema: z.ZodType): string {
  const def = definition(unwrap(schema));
  switch (def.type) {
    case "enum":
      return Object.values(def.entries ?? {}).join(" | ");
    case "literal":
      return (def.values ?? []).map(String).join(" | ");
    case "boolean":
      return "true | false";
    case "array":
      return `[${expectedForm(def.element as z.ZodType)}, ...]`;
    case "tuple":
      return `[${(def.items ?? []).map(expectedForm).join(", ")}]`;
    case "union":
      if (def.discriminator) return `{${def.discriminator}: ${discriminatorValues(def).map(String).join(" | ")}, ...}`;
      return (def.options ?? []).map(expectedForm).join(" | ");
    case "object": {
      const keys = Object.entries(def.shape ?? {}).map(([key, field]) => (isOptional(field) ? `${key}?` : `${key}: ${expectedForm(field)}`));
      const open = def.catchall && definition(def.catchall).type !== "never";
      return `{${[...keys, ...(open ? ["..."] : [])].join(", ")}}`;
    }
    default:
      return def.type;
  }
}

/**
 * zod's messages for a union say only "Invalid input"; this error map (pass it to `safeParse`)
 * says instead which forms the union accepts, so a value that fits none of them, or a missing
 * one, is reported with the forms to choose from.
 */
export const unionFormsErrorMap: z.core.$ZodErrorMap = (issue) => {
  const schema = issue.inst as z.ZodType | undefined;
  if (!schema || !("def" in schema) || definition(schema).type !== "union") return undefined;
  const def = definition(schema);
  return `expected ${def.discriminator ? expectedForm(schema) : (def.options ?? []).map(expectedForm).join(" or ")}`;
};

// Every object schema that may describe the value at `path` (following unions, and the
// discriminator where the value has one).
function objectsAt(schema: z.ZodType, path: ConfigPath, value: unknown): z.ZodType[] {
  const expand = (s: z.ZodType, data: unknown): z.ZodType[] => {
    const def = definition(unwrap(s));
    if (def.type !== "union") return [unwrap(s)];
    const options = def.options ?? [];
    const { discriminator } = def;
    const picked = discriminator && isRecord(data) ? options.filter((o) => discriminatorValues({ ...def, options: [o] }).includes(data[discriminator])) : [];
    return (picked.length ? picked : options).flatMap((o) => expand(o, data));
  };
  let current = [schema];
  let data = value;
  for (const key of path) {
    current = current
      .flatMap((s) => expand(s, data))
      .flatMap((s) => {
        const def = definition(s);
        if (def.type === "array" && typeof key === "number") return [def.element as z.ZodType];
        if (def.type === "record") return [def.valueType as z.ZodType];
        const field = def.type === "object" ? def.shape?.[String(key)] : undefined;
        return field ? [field] : [];
      });
    data = valueAt(data, [key]);
  }
  return current.flatMap((s) => expand(s, data)).filter((s) => definition(s).type === "object");
}

/** The keys an object at `path` may have (of every form a union there allows), for hints. */
export function knownKeys(schema: z.ZodType, path: ConfigPath, value: unknown): string[] {
  return [...new Set(objectsAt(schema, path, value).flatMap((s) => Object.keys(definition(s).shape ?? {})))];
}

type Issue = z.core.$ZodIssue;
type UnionIssue = Extract<Issue, { code: "invalid_union" }>;

// An option whose type (or literal value) the input does not have fails at its root.
const failsAtRoot = (issues: Issue[]) => issues.some((i) => i.path.length === 0 && (i.code === "invalid_type" || i.code === "invalid_value"));
const strangers = (issues: Issue[]) => issues.flatMap((i) => (i.code === "unrecognized_keys" && i.path.length === 0 ? i.keys : []));

// The union option the input was meant for: among those of its type, the one that knows most of
// its keys, then the one with the fewest problems.
function intendedOption(options: Issue[][]): Issue[] | undefined {
  const candidates = options.filter((issues) => !failsAtRoot(issues));
  const score = (issues: Issue[]) => strangers(issues).length * 1000 + issues.length;
  return candidates.sort((a, b) => score(a) - score(b))[0];
}

function describeUnion(issue: UnionIssue, path: ConfigPath, schema: z.ZodType, raw: Record<string, unknown>, locate: Locate): string {
  const where = `${locate(path)}: ${pathString(path)}`;
  const value = valueAt(raw, path);
  const intended = intendedOption(issue.errors);
  if (intended) {
    // Keys of two forms in one mapping (`arch` and `layers`): say so rather than call one unknown.
    const foreign = strangers(intended).filter((key) => issue.errors.some((o) => o !== intended && !failsAtRoot(o) && !strangers(o).includes(key)));
    if (foreign.length > 0) {
      const own = Object.keys(value as object).filter((key) => !strangers(intended).includes(key));
      return `${where}: ${foreign.join(", ")} cannot be combined with ${own.join(", ")}; ${issue.message}`;
    }
    return intended.map((inner) => describeIssue({ ...inner, path: [...path, ...inner.path] } as Issue, schema, raw, locate)).join("\n");
  }
  const choices = issue.errors.flatMap((o) => o.flatMap((i) => (i.code === "invalid_value" ? i.values.map(String) : [])));
  return `${where}: ${received(value, choices)}; ${issue.message}`;
}

// A top-level key that belongs in a section (`epochs=3` for `training.epochs=3`): the sections
// that have it.
function sectionSuggestion(key: string, sections: string[], schema: z.ZodType, raw: Record<string, unknown>): string {
  const homes = sections.filter((section) => knownKeys(schema, [section], raw).includes(key)).map((section) => `"${section}.${key}"`);
  return homes.length > 0 ? ` (did you mean ${homes.join(" or ")}?)` : "";
}

/**
 * One zod issue of `schema` as a message: "file:line:col: field.path: what is wrong; what was
 * expected", with a "did you mean" for a misspelt key or choice. Paths and keys are the YAML
 * names. A union is explained by the option the value was meant for or, when it fits none, by
 * the forms it accepts.
 */
export function describeIssue(issue: Issue, schema: z.ZodType, raw: Record<string, unknown>, locate: Locate): string {
  const path = issue.path as ConfigPath;
  if (issue.code === "unrecognized_keys") {
    const known = knownKeys(schema, path, raw);
    return issue.keys
      .map((key) => {
        const others = known.filter((k) => k !== key);
        // A section's exact field is likelier meant than a section's name one typo away ("path", "data").
        const hint = (path.length === 0 ? sectionSuggestion(key, known, schema, raw) : "") || suggestion(key, others);
        return `${locate([...path, key], true)}: ${pathString([...path, key])}: unknown key${hint}; known: ${known.join(", ")}`;
      })
      .join("\n");
  }
  if (issue.code === "invalid_union" && issue.errors.length > 0) return describeUnion(issue, path, schema, raw, locate);
  let message = issue.message.replace(/^Invalid input: /, "");
  const value = valueAt(raw, path);
  const choices = "options" in issue ? (issue.options as unknown[]) : "values" in issue ? (issue.values as unknown[]) : undefined;
  if (choices) message = `${received(value, choices.map(String))}; expected one of ${choices.map(String).join(", ")}`;
  else if (issue.code === "invalid_type" && typeof value === "number") message = `${received(value, [])}; expected a finite number`;
  else if (issue.code === "invalid_type") message = `${received(value, [])}; ${message.replace(/, received \w+$/, "")}`;
  return `${locate(path)}: ${pathString(path) || "config"}: ${message}`;
}
