import { isGradEnabled } from "../engine/autograd.ts";
import { add } from "../engine/ops/binary.ts";
import { maxPool2dRelu } from "../engine/ops/pool.ts";
import { concat } from "../engine/ops/shape.ts";
import type { Tensor } from "../engine/tensor.ts";
import { Lambda } from "./activations.ts";
import { BatchNorm, MaxPool2d } from "./layers.ts";
import { Module } from "./module.ts";

const isRelu = (layer: Module | undefined): boolean => layer instanceof Lambda && layer.kind === "relu";

// A ReLU next to a max pooling, in either order: both are relu(maxpool2d(x)) in value and
// gradient, which runs as one op (see maxPool2dRelu) on a quarter of the ReLU's elements.
function fusedPooling(layer: Module, next: Module | undefined): MaxPool2d | null {
  if (isRelu(layer) && next instanceof MaxPool2d) return next;
  if (layer instanceof MaxPool2d && isRelu(next)) return layer;
  return null;
}

// Without a graph to record (evaluation, prediction), nothing reads an intermediate output again
// once the next op has consumed it: freeing it at once, instead of when the caller's scope ends,
// keeps a deep network's evaluation to a few activations of memory (DenseNet-121 and GoogLeNet on
// a batch of 1000 do not fit WebAssembly's 4 GiB otherwise). A container's own input is never its
// to free, and a module may hand back the tensor it was given.
function releaseConsumed(consumed: Tensor, input: Tensor, result: Tensor): void {
  if (!isGradEnabled() && consumed !== input && consumed !== result) consumed.dispose();
}

/** Applies its children in order; they are named "0", "1", ... like nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(layers: Module[]) {
    super();
    this.layers = layers;
    for (const [index, layer] of layers.entries()) this.registerChild(String(index), layer);
  }

  forward(input: Tensor): Tensor {
    let x = input;
    for (let i = 0; i < this.layers.length; i++) {
      const pooling = fusedPooling(this.layers[i], this.layers[i + 1]);
      let y: Tensor;
      if (pooling) {
        y = maxPool2dRelu(x, pooling.options);
        i++;
      } else y = this.layers[i].forward(x);
      releaseConsumed(x, input, y);
      x = y;
    }
    return x;
  }
}

/**
 * A list of modules named "0", "1", ... whose owner decides how to apply them (PyTorch's
 * nn.ModuleList); it has no forward of its own.
 */
export class ModuleList extends Module {
  constructor(readonly modules: Module[]) {
    super();
    for (const [index, module] of modules.entries()) this.registerChild(String(index), module);
  }

  forward(): Tensor {
    throw new Error("gradscope: a ModuleList has no forward; its owner applies its modules");
  }
}

/**
 * post(main(x) + shortcut(x)), the ResNet and MobileNetV2 block. A null shortcut is the
 * identity, a null post adds nothing. Children are named "main", "shortcut" and "post", so a
 * block's tensors are `main.1.weight`, `shortcut.0.weight`, ... as in PyTorch.
 */
export class Residual extends Module {
  readonly main: Module;
  readonly shortcut: Module | null;
  readonly post: Module | null;

  constructor(parts: { main: Module; shortcut?: Module | null; post?: Module | null }) {
    super();
    this.main = this.registerChild("main", parts.main);
    this.shortcut = parts.shortcut ? this.registerChild("shortcut", parts.shortcut) : null;
    this.post = parts.post ? this.registerChild("post", parts.post) : null;
  }

  /**
   * Zeroes the weight of the main path's last batch norm (Goyal et al. 2017; torchvision's
   * zero_init_residual), so the block starts out as its shortcut.
   */
  zeroInitLastBatchNorm(): void {
    const norms = this.main.namedModules().filter(([, module]) => module instanceof BatchNorm);
    const last = norms.at(-1)?.[1] as BatchNorm | undefined;
    if (!last?.weight) throw new Error("gradscope: zero_init_last_bn: the residual's main path has no batch norm with a weight");
    last.weight.data.fill(0);
  }

  forward(input: Tensor): Tensor {
    const main = this.main.forward(input);
    const shortcut = this.shortcut ? this.shortcut.forward(input) : input;
    const sum = add(main, shortcut);
    releaseConsumed(main, input, sum);
    releaseConsumed(shortcut, input, sum);
    if (!this.post) return sum;
    const out = this.post.forward(sum);
    releaseConsumed(sum, input, out);
    return out;
  }
}

/**
 * Concatenates the branches' outputs along `axis` (1: channels), in branch order, as the
 * Inception and DenseNet blocks do; an empty Sequential branch passes the input through. The
 * branches are named `branches.0`, `branches.1`, ...
 */
export class Concat extends Module {
  readonly branches: ModuleList;

  constructor(
    branches: Module[],
    readonly axis = 1,
  ) {
    super();
    this.branches = this.registerChild("branches", new ModuleList(branches));
  }

  forward(input: Tensor): Tensor {
    const outputs = this.branches.modules.map((branch) => branch.forward(input));
    const joined = concat(outputs, this.axis);
    for (const output of outputs) releaseConsumed(output, input, joined);
    return joined;
  }
}
