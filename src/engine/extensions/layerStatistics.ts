import type { LayerRecord, Tensor } from "../tensor.ts";
import { individualGradients, type ParameterGradients } from "./individualGradients.ts";
import { rankOneLinear } from "./linearClosedForms.ts";
import { LayerSnapshot, type ParameterRole, projectLayer } from "./projections.ts";
import { batchDot, batchL2, batchMaxAbs, hist1d, hist2d, materializedProjections, meanProjections, sumGradSquared } from "./statistics.ts";
import type { ExtensionRequest, ParameterStatistics } from "./types.ts";

function needsMaterialized(request: ExtensionRequest, closedForm: boolean): boolean {
  if (request.individualGradients) return true;
  return (
    !closedForm && Boolean(request.batchL2 || request.batchDot || request.meanProjections || request.batchMaxAbs || request.sumGradSquared || request.hist1d || request.hist2d)
  );
}

/**
 * Computes the requested statistics of one parameterized op from its output gradient, with
 * g_i = scale·(per-sample gradient), into `results`.
 */
export function computeLayer(layer: LayerRecord, gradOut: Tensor, scale: number, request: ExtensionRequest, results: Map<Tensor, ParameterStatistics>): void {
  const view = rankOneLinear(layer, gradOut, scale);
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
  const materialized: ParameterGradients[] = needsMaterialized(request, view !== null) ? individualGradients(layer, gradOut, scale) : [];
  const snapshot = request.deferredProjections ? new LayerSnapshot(layer, gradOut, scale) : null;
  const gradientsOf = (parameter: Tensor): Tensor | undefined => materialized.find((entry) => entry.parameter === parameter)?.gradients;
  for (const [parameter, role] of roles) {
    const stats = results.get(parameter) as ParameterStatistics;
    const gradients = gradientsOf(parameter);
    // batchDot first: its Gram diagonals then give batchL2 for free.
    if (request.batchDot) stats.batchDot = view ? batchDot.linear(view, role) : batchDot.general(gradients as Tensor);
    if (request.meanProjections) stats.meanProjections = view ? meanProjections.linear(view, role) : meanProjections.general(gradients as Tensor);
    if (request.batchMaxAbs) stats.batchMaxAbs = view ? batchMaxAbs.linear(view, role) : batchMaxAbs.general(gradients as Tensor);
    if (request.batchL2) stats.batchL2 = view ? batchL2.linear(view, role) : batchL2.general(gradients as Tensor);
    if (request.sumGradSquared) stats.sumGradSquared = view ? sumGradSquared.linear(view, role, parameter) : sumGradSquared.general(gradients as Tensor, parameter);
    const direction = request.projections?.get(parameter);
    // Gradients materialized for another statistic make projections a matrix-vector product.
    if (direction) stats.projections = gradients ? materializedProjections(gradients, direction) : projectLayer(layer, gradOut, scale, role, direction);
    if (snapshot) stats.deferredProjection = snapshot.projection(role);
    if (request.hist1d) stats.hist1d = view ? hist1d.linear(view, role, request.hist1d) : hist1d.general(gradients as Tensor, request.hist1d);
    if (request.hist2d) stats.hist2d = view ? hist2d.linear(view, role, parameter, request.hist2d) : hist2d.general(gradients as Tensor, parameter, request.hist2d);
    // Per-layer buffers are freed as soon as they are reduced, unless the caller asked for them.
    if (request.individualGradients && gradients) stats.individualGradients = gradients;
    else gradients?.dispose();
  }
  view?.dispose();
}
