import { zeros } from "../engine/creation.ts";
import { avgPool2d } from "../engine/ops/pool.ts";
import { concat } from "../engine/ops/shape.ts";
import type { Tensor } from "../engine/tensor.ts";
import { Module } from "./module.ts";

/**
 * The parameter-free "option A" shortcut of the CIFAR ResNets (He et al. 2016, section 4.2):
 * x[:, :, ::stride, ::stride] with zero channels added equally before and after, up to
 * `outChannels` (as F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)) in the
 * usual reference implementation). The subsampling is a 1x1 average pooling, so its gradient
 * flows back to the kept pixels.
 */
export class SubsamplePad extends Module {
  constructor(
    readonly stride: number,
    readonly inChannels: number,
    readonly outChannels: number,
  ) {
    super();
    if (outChannels < inChannels || (outChannels - inChannels) % 2 !== 0) {
      throw new RangeError(`gradscope: SubsamplePad: out_channels ${outChannels} must be in_channels ${inChannels} plus an even number`);
    }
  }

  forward(input: Tensor): Tensor {
    const subsampled = this.stride === 1 ? input : avgPool2d(input, { kernelSize: [1, 1], stride: [this.stride, this.stride], padding: [0, 0] });
    const side = (this.outChannels - this.inChannels) / 2;
    if (side === 0) return subsampled;
    const [n, , h, w] = subsampled.shape;
    const padding = zeros([n, side, h, w]);
    return concat([padding, subsampled, padding], 1);
  }
}
