import type { LayerRecord, Tensor } from "../tensor.ts";
import { LayerContext } from "./layerContext.ts";
import { ruleFor } from "./layerKinds.ts";
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

/**
 * Computes the requested statistics of one parameterized op from its output gradient, with
 * g_i = scale·(per-sample gradient), into `results`: each by its closed form for the layer's
 * kind where one applies, else from the per-sample gradients, materialized once per layer.
 */
export function computeLayer(layer: LayerRecord, gradOut: Tensor, scale: number, request: ExtensionRequest, results: Map<Tensor, ParameterStatistics>): void {
  const roles: Array<[Tensor, ParameterRole]> = [];
  if (layer.weight?.requiresGrad) roles.push([layer.weight, "weight"]);
  if (layer.bias?.requiresGrad) roles.push([layer.bias, "bias"]);
  if (roles.length === 0) return;
  for (const [parameter] of roles) {
    if (results.has(parameter)) {
      throw new Error(`gradscope: parameter ${parameter.name ?? parameter.toString()} is used by more than one op; per-sample statistics of shared parameters are not supported`);
    }
    results.set(parameter, {});
  }
  const context = new LayerContext(layer, gradOut, scale, request);
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
  // Per-layer buffers are freed as soon as the layer is reduced, unless the caller asked for them.
  context.dispose();
}
