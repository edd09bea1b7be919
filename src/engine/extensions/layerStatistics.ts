import type { LayerRecord, Tensor } from "../tensor.ts";
import { LayerContext } from "./layerContext.ts";
import { ruleFor } from "./layerKinds.ts";
import { isRankOneLinear } from "./linearClosedForms.ts";
import { LayerSnapshot, type ParameterRole, projectLayer } from "./projections.ts";
import { batchDot, batchL2, batchMaxAbs, hist1d, hist2d, materializedProjections, meanProjections, type StatisticRules, sumGradSquared } from "./statistics.ts";
import type { ExtensionRequest, ParameterStatistics } from "./types.ts";

type TableStatistic = "batchDot" | "meanProjections" | "batchMaxAbs" | "batchL2" | "sumGradSquared" | "hist1d" | "hist2d";

// The statistics computed from the rule table, in this order: batchDot first, so that a
// fallback materializing the gradients there lets the others reduce them instead.
const table: ReadonlyArray<[TableStatistic, StatisticRules<ParameterStatistics[TableStatistic]>]> = [
  ["batchDot", batchDot],
  ["meanProjections", meanProjections],
  ["batchMaxAbs", batchMaxAbs],
  ["batchL2", batchL2],
  ["sumGradSquared", sumGradSquared],
  ["hist1d", hist1d],
  ["hist2d", hist2d],
];

const requested = (request: ExtensionRequest, statistic: TableStatistic): boolean => Boolean(request[statistic]);

/** Whether some requested statistic has no closed form for the layer's kind, so the gradients get materialized. */
function materializesAnyway(layer: LayerRecord, request: ExtensionRequest): boolean {
  return Boolean(request.individualGradients) || table.some(([statistic, rules]) => requested(request, statistic) && !ruleFor(rules.closedForms, layer));
}

/** One layer's statistics, started by `startLayer`. */
export interface StartedLayer {
  /** Whether work of the layer runs on the worker threads until `finish` (the output gradient must stay unchanged until then). */
  readonly inBackground: boolean;
  /** Computes the statistics into the results and frees the layer's buffers. */
  finish(): void;
  /** Frees the layer's buffers without computing (a backward pass that failed). */
  dispose(): void;
}

/**
 * Computes the requested statistics of one parameterized op from its output gradient, with
 * g_i = scale·(per-sample gradient), into `results`: each by its closed form for the layer's
 * kind where one applies, else from the per-sample gradients, materialized once per layer.
 */
export function computeLayer(layer: LayerRecord, gradOut: Tensor, scale: number, request: ExtensionRequest, results: Map<Tensor, ParameterStatistics>): void {
  startLayer(layer, gradOut, scale, request, results, false).finish();
}

/**
 * computeLayer in two halves: the layer's parameters take their place in `results` now and, with
 * `background`, the Gram matrices that a Linear layer's rules read run on the engine's worker
 * threads (while a backward pass goes on); `finish` computes.
 */
export function startLayer(
  layer: LayerRecord,
  gradOut: Tensor,
  scale: number,
  request: ExtensionRequest,
  results: Map<Tensor, ParameterStatistics>,
  background: boolean,
): StartedLayer {
  const roles: Array<[Tensor, ParameterRole]> = [];
  if (layer.weight?.requiresGrad) roles.push([layer.weight, "weight"]);
  if (layer.bias?.requiresGrad) roles.push([layer.bias, "bias"]);
  if (roles.length === 0) return { inBackground: false, finish: () => {}, dispose: () => {} };
  for (const [parameter] of roles) {
    if (results.has(parameter)) {
      throw new Error(`gradscope: parameter ${parameter.name ?? parameter.toString()} is used by more than one op; per-sample statistics of shared parameters are not supported`);
    }
    results.set(parameter, {});
  }
  const context = new LayerContext(layer, gradOut, scale, request);
  const rankOne = background && readsGrams(layer, request) ? context.rankOneLinear() : null;
  try {
    rankOne?.startGrams(Boolean(layer.weight?.requiresGrad));
  } catch (error) {
    context.dispose();
    throw error;
  }
  return { inBackground: rankOne !== null, finish: () => finishLayer(context, roles, results), dispose: () => context.dispose() };
}

// Whether the layer's statistics are read off Gram matrices: the rank-one Linear closed forms of
// batchDot and meanProjections (unless the per-sample gradients are materialized anyway).
const readsGrams = (layer: LayerRecord, request: ExtensionRequest): boolean =>
  Boolean(request.batchDot || request.meanProjections) && isRankOneLinear(layer) && !materializesAnyway(layer, request);

function finishLayer(context: LayerContext, roles: Array<[Tensor, ParameterRole]>, results: Map<Tensor, ParameterStatistics>): void {
  const { layer, gradOut, scale, request } = context;
  try {
    // Materialized up front when some statistic needs them anyway: the closed forms that are
    // chosen by cost then defer to them, and projections become matrix-vector products.
    if (materializesAnyway(layer, request)) context.gradients(roles[0][0]);
    const snapshot = request.deferredProjections ? new LayerSnapshot(layer, gradOut, scale) : null;
    for (const [parameter, role] of roles) {
      const stats = results.get(parameter) as ParameterStatistics;
      for (const [statistic, rules] of table) {
        if (!requested(request, statistic)) continue;
        const closedForm = ruleFor(rules.closedForms, layer)?.(context, role, parameter);
        (stats as Record<TableStatistic, unknown>)[statistic] = closedForm ?? rules.general(context.gradients(parameter), parameter, context);
      }
      const direction = request.projections?.get(parameter);
      if (direction)
        stats.projections = context.hasMaterialized ? materializedProjections(context.gradients(parameter), direction) : projectLayer(layer, gradOut, scale, role, direction);
      if (snapshot) stats.deferredProjection = snapshot.projection(role);
      if (request.individualGradients) stats.individualGradients = context.keepGradients(parameter);
    }
  } finally {
    // Per-layer buffers are freed as soon as the layer is reduced, unless the caller asked for them.
    context.dispose();
  }
}
