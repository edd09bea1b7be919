import * as z from "zod";
import type { Quantity } from "./quantity.ts";
import { atSteps, every, logarithmic, type StepSchedule } from "./schedule.ts";

/**
 * A quantity as gradscope knows it, in one place: the registry, the config schema, `gradscope
 * schema` and the docs are derived from its definition, so a quantity, built in or your own, is
 * one definition object given to `registerQuantity`.
 *
 * @example
 * registerQuantity({
 *   configName: "weight_norm",
 *   name: "WeightNorm",
 *   description: "‖θ‖ per parameter tensor",
 *   options: { power: z.number().positive().default(2) },
 *   create: (options, schedule) => new WeightNorm(schedule, options.power),
 * });
 */
export interface QuantityDefinition<Options extends z.ZodRawShape = z.ZodRawShape> {
  /** Its key in a config's `quantities` map, snake_case (e.g. `norm_test`). */
  readonly configName: string;
  /**
   * The name its values are stored under (in the run store's `quantity` family of series, see
   * store/seriesKeys.ts); for the built-in quantities Cockpit's class name (e.g. `NormTest`),
   * by which conformance cases name them. The created quantity's `name` must be this.
   */
  readonly name: string;
  /** What it measures, in one line (the config schema's description). */
  readonly description: string;
  /**
   * Its options as a zod shape, each with a default or optional. The schedule keys (`every`,
   * `offset`, `logarithmic`, `steps`) come on top and are resolved into the schedule `create`
   * gets.
   */
  readonly options: Options;
  /** The quantity, from its validated options (defaults filled in) and when it is due. */
  create(options: z.output<z.ZodObject<Options>>, schedule: StepSchedule): Quantity;
}

/** Types a definition's options from its zod shape (an identity, for definitions kept in a variable). */
export function defineQuantity<Options extends z.ZodRawShape>(definition: QuantityDefinition<Options>): QuantityDefinition<Options> {
  return definition;
}

const positiveInt = z.number().int().positive();

/**
 * The keys that set when a quantity (or a histogram's bin adaptation) is due: every `every`
 * steps from `offset`, `logarithmic: {start, end, count}`, or exactly the listed `steps`.
 */
export const scheduleShape = {
  every: positiveInt.optional().describe("due every N optimizer steps (default: training.track_every)"),
  offset: z.number().int().min(0).optional().describe("the first step of `every`"),
  logarithmic: z
    .strictObject({ start: z.number().min(0).optional(), end: positiveInt, count: positiveInt.optional() })
    .optional()
    .describe("count steps spaced logarithmically between start and end"),
  steps: z.array(z.number().int().min(0)).optional().describe("exactly these steps"),
};

/** The schedule keys as a config gives them. */
export type ScheduleOptions = z.output<z.ZodObject<typeof scheduleShape>>;

/** The schedule written in `options` (`steps`, then `logarithmic`, then `every`/`offset`); `every(fallbackEvery)` when none is. */
export function scheduleOf(options: ScheduleOptions, fallbackEvery: number): StepSchedule {
  if (options.steps !== undefined) return atSteps(options.steps);
  if (options.logarithmic !== undefined) {
    const { start, end, count } = options.logarithmic;
    return logarithmic(start ?? 1, end, count ?? 300);
  }
  return every(options.every ?? fallbackEvery, options.offset ?? 0);
}

/** Whether `options` sets a schedule at all. */
export function hasSchedule(options: ScheduleOptions): boolean {
  return Object.keys(scheduleShape).some((key) => options[key as keyof ScheduleOptions] !== undefined);
}

/** A definition's entry in a `quantities` map: its options with the schedule keys. */
export function entrySchema(definition: QuantityDefinition): z.ZodObject {
  return z.strictObject({ ...scheduleShape, ...definition.options });
}
