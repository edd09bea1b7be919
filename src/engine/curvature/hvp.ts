import { topologicalOrder } from "../autograd.ts";
import { zeros } from "../creation.ts";
import { addInto, copyInto } from "../kernels/elementwise.ts";
import { scope } from "../scope.ts";
import { type GradNode, Tensor } from "../tensor.ts";
import type { CurvatureRules } from "./rules.ts";

/** The node's second-order rules, or an error naming the op that lacks them. */
export function rulesOf(node: GradNode, purpose: string): CurvatureRules {
  if (!node.curvature) throw new Error(`gradscope: ${purpose} needs second-order rules, which op "${node.op}" does not have`);
  return node.curvature;
}

// Adds `value` into the map's entry for `key`; the first value is copied, since ops may hand the
// same tensor to several inputs.
function accumulate(map: Map<Tensor, Tensor>, key: Tensor, value: Tensor | null): void {
  if (!value) return;
  const existing = map.get(key);
  if (existing) {
    addInto(existing, value);
    return;
  }
  const copy = new Tensor(value.shape, "float32", "accumulated tangent");
  copyInto(value, copy);
  map.set(key, copy);
}

/**
 * Exact Hessian-vector products H·v of a scalar `loss` with respect to `parameters`, by
 * Pearlmutter's R-operator: a forward pass of directional derivatives along v through the
 * recorded graph, then the backward pass differentiated along v. The ordinary gradients that
 * pass needs do not depend on v, so they are computed once, on the first product, and kept
 * until `dispose()`: an eigensolver's products then cost about one backward pass each less.
 */
export class HessianVectorProducts {
  private readonly order: Tensor[];
  private gradients: Map<Tensor, Tensor> | null = null;

  constructor(
    private readonly loss: Tensor,
    private readonly parameters: readonly Tensor[],
  ) {
    if (loss.size !== 1) throw new Error(`gradscope: hessianVectorProduct needs a scalar loss, got ${loss.size} elements`);
    this.order = topologicalOrder(loss);
  }

  /**
   * H·v for v given as one tensor per parameter; the product is laid out the same way, in new
   * tensors the caller owns.
   */
  multiply(directions: readonly Tensor[]): Tensor[] {
    const purpose = "a Hessian-vector product";
    const gradients = this.ordinaryGradients();
    return scope(() => {
      const tangents = new Map<Tensor, Tensor | null>();
      this.parameters.forEach((parameter, i) => {
        if (directions[i]?.size !== parameter.size)
          throw new RangeError(`gradscope: hessianVectorProduct: direction ${i} has ${directions[i]?.size ?? 0} elements, parameter ${parameter.name ?? i} has ${parameter.size}`);
        tangents.set(parameter, directions[i]);
      });
      const inputTangents = (node: GradNode) => node.inputs.map((input) => (input ? (tangents.get(input) ?? null) : null));
      for (const tensor of this.order) {
        if (!tensor.node) continue;
        const incoming = inputTangents(tensor.node);
        tangents.set(tensor, incoming.some((t) => t !== null) ? rulesOf(tensor.node, purpose).jvp(incoming) : null);
      }
      const gradientTangents = new Map<Tensor, Tensor>();
      for (let k = this.order.length - 1; k >= 0; k--) {
        const tensor = this.order[k];
        const gradOutTangent = gradientTangents.get(tensor) ?? null;
        const node = tensor.node;
        if (!node) continue;
        const gradOut = gradients.get(tensor);
        if (!gradOut) continue;
        const inputGradientTangents = rulesOf(node, purpose).backwardTangent(gradOut, gradOutTangent, inputTangents(node));
        node.inputs.forEach((input, i) => {
          if (input?.requiresGrad) accumulate(gradientTangents, input, inputGradientTangents[i]);
        });
      }
      // A parameter the loss does not reach has a zero row in H.
      return this.parameters.map((p) => gradientTangents.get(p) ?? zeros(p.shape));
    });
  }

  /** Frees the kept gradients. */
  dispose(): void {
    for (const gradient of this.gradients?.values() ?? []) gradient.dispose();
    this.gradients = null;
  }

  // The gradient of every op output on the way to the loss (leaves' are not needed).
  private ordinaryGradients(): Map<Tensor, Tensor> {
    if (this.gradients) return this.gradients;
    const gradients = scope(() => {
      const seed = new Tensor(this.loss.shape, "float32", "backward seed");
      seed.data[0] = 1;
      const found = new Map<Tensor, Tensor>([[this.loss, seed]]);
      for (let k = this.order.length - 1; k >= 0; k--) {
        const node = this.order[k].node;
        const gradOut = found.get(this.order[k]);
        if (!node || !gradOut) continue;
        const inputGradients = node.backward(
          gradOut,
          node.inputs.map((input) => Boolean(input?.node)),
        );
        node.inputs.forEach((input, i) => {
          if (input?.node) accumulate(found, input, inputGradients[i]);
        });
      }
      return found;
    });
    for (const gradient of gradients.values()) gradient.keep();
    this.gradients = gradients;
    return gradients;
  }
}

/** One Hessian-vector product (see `HessianVectorProducts`, which amortizes several). */
export function hessianVectorProduct(loss: Tensor, parameters: readonly Tensor[], directions: readonly Tensor[]): Tensor[] {
  const products = new HessianVectorProducts(loss, parameters);
  try {
    return products.multiply(directions);
  } finally {
    products.dispose();
  }
}
