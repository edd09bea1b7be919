import { binaryPeriodic, rowSums } from "../kernels/elementwise.ts";
import { engineMemory } from "../memory.ts";
import { Tensor } from "../tensor.ts";
import { binaryOpCodes } from "./binary.ts";

/**
 * Where the channel axis of a biased output lies: last ([rows, channels], Linear) or right after
 * the batch axis ([batch, channels, positions], Conv2d).
 */
export interface BiasLayout {
  batch: number;
  channels: number;
  positions: number;
  channelsLast: boolean;
}

/** Adds `bias` along the channel axis of `out`, in place (the SIMD broadcast kernel). */
export function addBias(out: Tensor, bias: Tensor, layout: BiasLayout): void {
  const { channels, positions, channelsLast } = layout;
  // Channels last, bias element i mod C goes to element i; channels first, to a run of `positions`.
  binaryPeriodic(binaryOpCodes.add, out.ptr, bias.ptr, out.ptr, out.size, channels, channelsLast ? 1 : positions);
}

/** The bias gradient: `gradOut` summed over every axis but the channel axis. */
export function biasGradient(gradOut: Tensor, layout: BiasLayout): Tensor {
  const { batch, channels, positions, channelsLast } = layout;
  const grad = new Tensor([channels], "float32", "bias gradient");
  // Channels last, rows are added four channels at a time.
  if (channelsLast) {
    engineMemory.kernels.sumAxis(gradOut.ptr, 1, batch * positions, channels, 1, grad.ptr);
    return grad;
  }
  // Channels first: one float32 SIMD sum per (sample, channel) row, then a sum over samples
  // (twice as fast as channelSums, whose float64 lanes the normalization statistics need).
  const sums = new Tensor([batch * channels], "float32", "bias row sums");
  rowSums(gradOut.ptr, batch * channels, positions, sums.ptr);
  const [rowTotals, out] = [sums.data, grad.data];
  for (let c = 0; c < channels; c++) {
    let total = 0;
    for (let n = 0; n < batch; n++) total += rowTotals[n * channels + c];
    out[c] = total;
  }
  sums.dispose();
  return grad;
}
