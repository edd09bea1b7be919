// Per-sample projections onto a per-channel direction (a bias, a norm layer's scale).

/**
 * out[i] = Σ_c (Σ_p v[i,c,p]·(w[i,c,p] or 1))·d[c] in float64, for the samples [firstSample,
 * endSample), with values (and weights, unless 0) laid out [N, C, P] when channelsFirst, else
 * [N, P, C]. Each channel's sum runs over the positions in order, then the channels in order.
 */
export function channelDots(values: usize, weights: usize, direction: usize, channels: i32, positions: i32, channelsFirst: i32, firstSample: i32, endSample: i32, out: usize): void {
  const sampleFloats = <usize>channels * positions;
  // One loop for both layouts: only the strides between a channel's positions and between
  // channels differ.
  const positionStride: usize = channelsFirst ? 1 : <usize>channels;
  const channelStride: usize = channelsFirst ? <usize>positions : 1;
  for (let i = firstSample; i < endSample; i++) {
    const sample = <usize>i * sampleFloats;
    let total: f64 = 0;
    for (let c = 0; c < channels; c++) {
      let channel: f64 = 0;
      let k = sample + <usize>c * channelStride;
      for (let p = 0; p < positions; p++, k += positionStride) {
        const v = <f64>load<f32>(values + (k << 2));
        channel += weights ? v * <f64>load<f32>(weights + (k << 2)) : v;
      }
      total += channel * <f64>load<f32>(direction + (<usize>c << 2));
    }
    store<f64>(out + (<usize>i << 3), total);
  }
}
