import { add } from "../engine/ops/binary.ts";
import type { Tensor } from "../engine/tensor.ts";
import { Module } from "./module.ts";

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
    for (const layer of this.layers) x = layer.forward(x);
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
