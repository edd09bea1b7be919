import type * as z from "zod";
import { closestName, hinted } from "../nn/spec.ts";
import { alphaDefinition } from "./alpha.ts";
import { basicDefinitions } from "./basic.ts";
import { curvatureDefinitions } from "./curvature.ts";
import { entrySchema, type QuantityDefinition, scheduleOf } from "./definition.ts";
import { gradientTestDefinitions } from "./gradientTests.ts";
import { histogramDefinitions } from "./histograms.ts";
import type { Quantity } from "./quantity.ts";
import { varianceDefinitions } from "./variance.ts";

type Options = Record<string, unknown>;

// By config name, in registration order (the built-ins in Cockpit's order first).
const definitions = new Map<string, QuantityDefinition>();

const configNamePattern = /^[a-z][a-z0-9_]*$/;

/**
 * Makes a quantity known to configs (`quantities: { <configName>: {...} }`), `createQuantities`,
 * the config schema and `gradscope schema`. Register before the config is loaded; from the CLI,
 * in a module given to `gradscope train --plugin`. Throws if the config name is not snake_case or
 * is taken, or the name is another quantity's.
 */
export function registerQuantity<Shape extends z.ZodRawShape>(definition: QuantityDefinition<Shape>): void {
  const { configName, name } = definition;
  if (!configNamePattern.test(configName)) throw new Error(`gradscope: registerQuantity: configName "${configName}" must be snake_case (a-z, 0-9, _)`);
  if (typeof name !== "string" || name === "" || name.includes("/"))
    throw new Error(`gradscope: registerQuantity ${configName}: name must be a non-empty string without "/", got ${JSON.stringify(name)}`);
  if (definitions.has(configName)) throw new Error(`gradscope: registerQuantity: a quantity named "${configName}" is already registered`);
  const sameName = [...definitions.values()].find((d) => d.name === name);
  if (sameName) throw new Error(`gradscope: registerQuantity ${configName}: quantity ${sameName.configName} already stores its values under the name "${name}"`);
  definitions.set(configName, definition as unknown as QuantityDefinition);
}

const builtIns: QuantityDefinition[] = [...basicDefinitions, ...gradientTestDefinitions, alphaDefinition, ...varianceDefinitions, ...histogramDefinitions, ...curvatureDefinitions];
for (const definition of builtIns) registerQuantity(definition);

/** The registered quantities' definitions, built-ins first. */
export function quantityDefinitions(): QuantityDefinition[] {
  return [...definitions.values()];
}

/** The registered quantities' config names. */
export function quantityNames(): string[] {
  return [...definitions.keys()];
}

// Creates a quantity from its validated options, checking the name a user's definition promised.
function construct(definition: QuantityDefinition, options: Options, fallbackEvery: number): Quantity {
  const quantity = definition.create(options, scheduleOf(options, fallbackEvery));
  if (quantity?.name !== definition.name)
    throw new Error(`gradscope: quantity ${definition.configName}: create returned a quantity named "${quantity?.name}", not "${definition.name}"`);
  return quantity;
}

// Cockpit's keyword arguments that mean "not set": null, or a null per axis.
const unset = (value: unknown) => value === null || (Array.isArray(value) && value.every((v) => v === null));

/**
 * A quantity given as Cockpit names it, with Cockpit's keyword arguments (those gradscope has no
 * use for, such as `adapt: null`, are ignored), due every step; null if gradscope lacks it.
 */
export function createCockpitQuantity(cockpitName: string, kwargs: Options): Quantity | null {
  const definition = quantityDefinitions().find((d) => d.name === cockpitName);
  if (!definition) return null;
  const given = Object.fromEntries(Object.entries(kwargs).filter(([key, value]) => key in definition.options && !unset(value)));
  return construct(definition, entrySchema(definition).parse(given), 1);
}

const economy = ["alpha", "distance", "grad_hist_1d", "grad_norm", "inner_test", "loss", "norm_test", "ortho_test", "update_size"];
const business = [...economy, "tic_diag", "hess_trace"];

/** Cockpit's configurations: economy, business (+ TICDiag, HessTrace), full (+ HessMaxEV, GradHist2d). */
export const configurations: Record<string, string[]> = { economy, business, full: [...business, "hess_max_ev", "grad_hist_2d"] };

/**
 * A configuration's quantities as the map form of a `quantities` section (each name: true), so
 * that options can be set on top of it; throws, with a hint, for an unknown name.
 */
export function configurationMap(name: string): Record<string, true> {
  const names = configurations[name];
  if (!names) {
    throw new Error(`gradscope: unknown quantities configuration "${name}"${hinted(name, Object.keys(configurations))}`);
  }
  return Object.fromEntries(names.map((n) => [n, true]));
}

// "bins: Too small: expected number to be >0" for the issues of one quantity's options.
function describeIssues(definition: QuantityDefinition, options: Options, issues: z.core.$ZodIssue[]): string {
  const known = Object.keys(entrySchema(definition).shape);
  return issues
    .map((issue) => {
      const field = issue.path.map(String).join(".");
      const received = issue.path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key], options);
      const stated = issue.message.replace(/^Invalid (input|option): /, "");
      let message = stated.includes("received") ? stated : `${stated}, got ${JSON.stringify(received)}`;
      if (issue.code === "unrecognized_keys") {
        const hint = issue.path.length === 0 && issue.keys.length === 1 ? closestName(issue.keys[0], known) : undefined;
        message = `unknown option ${issue.keys.map((k) => `"${k}"`).join(", ")}${hint ? ` (did you mean "${hint}"?)` : ""}${issue.path.length === 0 ? `; known: ${known.join(", ")}` : ""}`;
      }
      return field ? `${field}: ${message}` : message;
    })
    .join("; ");
}

/**
 * The quantities of a config's `quantities` section: a configuration name (`economy`,
 * `business`, `full`) or a map from registered quantity names to `true` or their options, with
 * `every`/`offset`, `logarithmic: {start, end, count}` or `steps: [...]` as the schedule
 * (default: every `trackEvery` steps). Throws, naming the quantity and the option, for an
 * unknown name or an invalid option.
 */
export function createQuantities(section: string | Record<string, boolean | Options>, trackEvery: number): Quantity[] {
  const map = typeof section === "string" ? configurationMap(section) : section;
  const entries = Object.entries(map).flatMap(([name, value]) => (value === false ? [] : [[name, value === true ? {} : value] as [string, Options]]));
  return entries.map(([name, options]) => {
    const definition = definitions.get(name);
    if (!definition) {
      throw new Error(`gradscope: unknown quantity "${name}"${hinted(name, quantityNames())}`);
    }
    const parsed = entrySchema(definition).safeParse(options);
    if (!parsed.success) throw new Error(`gradscope: quantity ${name}: ${describeIssues(definition, options, parsed.error.issues)}`);
    return construct(definition, parsed.data, trackEvery);
  });
}
