import type * as z from "zod";
import type { QuantityDefinition } from "./definition.ts";
import { quantityDefinitions } from "./registry.ts";

/** One registered quantity as the docs and `gradscope quantities` list it. */
export interface QuantityReference {
  /** Its name in a config's `quantities` section, e.g. `norm_test`. */
  configName: string;
  /** The name its values are stored under (`quantities/<name>`). */
  name: string;
  /** One line on what it measures. */
  description: string;
  /** Its options and their defaults (undefined: optional, no default). */
  options: Array<{
    /** The option's config name. */
    name: string;
    /** Its default; absent when it has none. */
    default?: unknown;
  }>;
}

// The default a zod option declares, looking through optional/nullable wrappers.
function defaultOf(schema: z.ZodType): unknown {
  const def = (schema as unknown as { def: { type: string; defaultValue?: unknown; innerType?: z.ZodType } }).def;
  if (def.type === "default") return def.defaultValue;
  return def.innerType ? defaultOf(def.innerType) : undefined;
}

function referenceOf(definition: QuantityDefinition): QuantityReference {
  return {
    configName: definition.configName,
    name: definition.name,
    description: definition.description,
    options: Object.entries(definition.options).map(([name, schema]) => ({ name, default: defaultOf(schema as z.ZodType) })),
  };
}

/** Every registered quantity (built-ins first, then any registered through `registerQuantity`), from its definition. */
export function quantityReference(): QuantityReference[] {
  return quantityDefinitions().map(referenceOf);
}

/** The quantities as a Markdown table: what docs/quantities.md holds and `gradscope quantities` prints. */
export function quantityReferenceMarkdown(): string {
  const options = (q: QuantityReference) =>
    q.options.length === 0 ? "—" : q.options.map((o) => (o.default === undefined ? `\`${o.name}\`` : `\`${o.name}\` (${JSON.stringify(o.default)})`)).join(", ");
  const rows = quantityReference().map((q) => `| \`${q.configName}\` | ${q.name} | ${q.description} | ${options(q)} |`);
  return ["| config name | stored as `quantities/…` | what | options (default) |", "|---|---|---|---|", ...rows].join("\n");
}
