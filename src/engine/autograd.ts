import { addInto, copyInto } from "./kernels/elementwise.ts";
import { type GradNode, type LayerRecord, Tensor } from "./tensor.ts";

let gradEnabled = true;

/** Whether ops currently record the autodiff graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording the graph (evaluation, parameter updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Attaches `node` to `output` when recording is on and any input needs a gradient.
 * Ops call this after computing their forward result.
 */
export function record(output: Tensor, node: GradNode): Tensor {
  if (gradEnabled && node.inputs.some((input) => input?.requiresGrad)) {
    output.requiresGrad = true;
    output.node = node;
  }
  return output;
}

/** Per input of a node: whether its gradient is wanted (it requires one and `needed` does not rule it out). */
export function wantedGradients(inputs: ReadonlyArray<Tensor | null>, needed?: readonly boolean[]): boolean[] {
  return inputs.map((input, index) => Boolean(input?.requiresGrad) && (needed?.[index] ?? true));
}

/**
 * Called for each parameterized op during backward, with the gradient of its output. Calling
 * `keep` keeps that gradient from being freed or handed on (an op that passes it through gets a
 * copy): the hook owns it then, and frees it.
 */
export type LayerBackwardHook = (layer: LayerRecord, gradOutput: Tensor, keep: () => void) => void;

/** Options of `backward`. */
export interface BackwardOptions {
  /** Seed gradient (default: ones, so `loss` must be a scalar or the seed must be given). */
  gradient?: Tensor;
  /** Sees every parameterized op's output gradient; the per-sample extensions use it. */
  onLayer?: LayerBackwardHook;
  /** Sees every op's output gradient before the op's backward runs (the curvature extensions). */
  onNode?: (node: GradNode, gradOutput: Tensor) => void;
  /** Whether leaves accumulate into `.grad` (default true); false only runs the hooks. */
  accumulate?: boolean;
}

/** The tensors `root` depends on through ops that need gradients, inputs before their outputs. */
export function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: deep graphs (long residual stacks) would overflow a recursive one.
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [tensor, next] = top;
    const inputs = tensor.node?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const input = inputs[next];
      if (input?.requiresGrad && !visited.has(input)) {
        visited.add(input);
        stack.push([input, 0]);
      }
    } else {
      order.push(tensor);
      stack.pop();
    }
  }
  return order;
}

/** Accumulates into `leaf.grad`; returns whether the leaf adopted `gradient` itself. */
function accumulateLeafGradient(leaf: Tensor, gradient: Tensor, owned: boolean): boolean {
  if (leaf.grad) {
    addInto(leaf.grad, gradient);
    return false;
  }
  if (owned && gradient.rank === leaf.rank && gradient.shape.every((d, i) => d === leaf.shape[i])) {
    // The first gradient becomes .grad as it is: no copy on the common path.
    leaf.grad = gradient.keep();
    return true;
  }
  const grad = new Tensor(leaf.shape, "float32", `gradient of ${leaf.name ?? "a leaf"}`).keep();
  copyInto(gradient, grad);
  leaf.grad = grad;
  return false;
}

/**
 * Reverse-mode autodiff from `loss`: walks the recorded graph backwards and accumulates
 * gradients into `.grad` of every leaf tensor with `requiresGrad` (parameters). Intermediate
 * gradients are freed as soon as they have been propagated.
 */
export function backward(loss: Tensor, options: BackwardOptions = {}): void {
  if (!loss.requiresGrad) throw new Error("gradscope: backward() on a tensor that does not require grad (no parameter reaches it, or it was computed under noGrad)");
  let seed = options.gradient;
  if (!seed) {
    if (loss.size !== 1) throw new Error(`gradscope: backward() needs a scalar loss or an explicit gradient; got shape [${loss.shape.join(", ")}]`);
    seed = new Tensor(loss.shape, "float32", "backward seed");
    seed.data[0] = 1;
  }
  const gradients = new Map<Tensor, Tensor>([[loss, seed]]);
  const order = topologicalOrder(loss);
  for (let position = order.length - 1; position >= 0; position--) {
    const tensor = order[position];
    const gradOutput = gradients.get(tensor);
    if (!gradOutput) continue;
    gradients.delete(tensor);
    const node = tensor.node;
    if (!node) {
      const owned = gradOutput !== options.gradient;
      const adopted = options.accumulate !== false && accumulateLeafGradient(tensor, gradOutput, owned);
      if (!adopted && owned) gradOutput.dispose();
      continue;
    }
    let kept = false;
    if (node.layer && options.onLayer)
      options.onLayer(node.layer, gradOutput, () => {
        kept = true;
      });
    options.onNode?.(node, gradOutput);
    // Without accumulation only gradients flowing on to other ops matter, not the leaves' (the
    // curvature column passes skip every weight gradient this way).
    const needed = options.accumulate === false ? node.inputs.map((input) => Boolean(input?.node)) : undefined;
    const inputGradients = node.backward(gradOutput, needed);
    let handedOn = kept;
    node.inputs.forEach((input, index) => {
      let gradient = inputGradients[index];
      if (!input || !gradient || !input.requiresGrad) {
        if (gradient && gradient !== gradOutput) gradient.dispose();
        return;
      }
      const existing = gradients.get(input);
      if (existing) {
        addInto(existing, gradient);
        if (gradient !== gradOutput) gradient.dispose();
        return;
      }
      // One tensor may be handed to one consumer only; a second one gets a copy.
      if (gradient === gradOutput) {
        if (handedOn) {
          gradient = new Tensor(gradOutput.shape, "float32", "gradient copy");
          copyInto(gradOutput, gradient);
        }
        handedOn = true;
      }
      gradients.set(input, gradient);
    });
    if (!handedOn && gradOutput !== options.gradient) gradOutput.dispose();
  }
}
