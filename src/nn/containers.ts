import { add } from "../engine/ops/binary.ts";
import { maxPool2dRelu } from "../engine/ops/pool.ts";
import type { Tensor } from "../engine/tensor.ts";
import { Lambda } from "./activations.ts";
import { MaxPool2d } from "./layers.ts";
import { Module } from "./module.ts";

const isRelu = (layer: Module | undefined): boolean => layer instanceof Lambda && layer.kind === "relu";

// A ReLU next to a max pooling, in either order: both are relu(maxpool2d(x)) in value and
// gradient, which runs as one op (see maxPool2dRelu) on a quarter of the ReLU's elements.
function fusedPooling(layer: Module, next: Module | undefined): MaxPool2d | null {
  if (isRelu(layer) && next instanceof MaxPool2d) return next;
  if (layer instanceof MaxPool2d && isRelu(next)) return layer;
  return null;
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
      if (pooling) {
        x = maxPool2dRelu(x, pooling.options);
        i++;
      } else x = this.layers[i].forward(x);
    }
    return x;
  }
}

/** x + f(x); f must keep the shape. Its parameters are named "body.*". */
export class Residual extends Module {
  constructor(readonly body: Module) {
    super();
    this.registerChild("body", body);
  }

  forward(input: Tensor): Tensor {
    return add(input, this.body.forward(input));
  }
}
