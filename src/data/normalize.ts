import type { Transform } from "./transforms.ts";

// One value per channel of [C, H, W] inputs (or one value for any input), as a list.
function perChannel(name: string, values: number | number[], shape: readonly number[]): number[] {
  const list = Array.isArray(values) ? values : [values];
  const channels = shape.length === 3 ? shape[0] : 1;
  if (list.length !== 1 && list.length !== channels) throw new RangeError(`gradscope: transform ${name}: expected 1 or ${channels} values, got ${list.length}`);
  return list.length === 1 ? Array.from({ length: channels }, () => list[0]) : list;
}

/** (x − mean)·(1/std), with one value or one per channel. Config type `normalize`. */
export function normalize(mean: number | number[], std: number | number[]): Transform {
  // A mean or std that is not a number made every input NaN, found only as a NaN loss.
  for (const m of Array.isArray(mean) ? mean : [mean])
    if (!Number.isFinite(m)) throw new RangeError(`gradscope: transform normalize: mean must be a finite number, got ${JSON.stringify(m)}`);
  for (const s of Array.isArray(std) ? std : [std])
    if (!(Number.isFinite(s) && s > 0)) throw new RangeError(`gradscope: transform normalize: std must be a finite number > 0, got ${JSON.stringify(s)}`);
  return {
    name: "normalize",
    deterministic: true,
    spec: { type: "normalize", mean, std },
    outputShape: (shape) => [...shape],
    apply(inputs, batch, shape) {
      const means = perChannel("normalize mean", mean, shape);
      const stds = perChannel("normalize std", std, shape);
      // Runs of one channel: [batch, C, plane] (plane = everything after C; all of it if not an image).
      const plane = shape.length === 3 ? shape[1] * shape[2] : shape.reduce((a, b) => a * b, 1);
      const channels = means.length;
      for (let run = 0; run < batch * channels; run++) {
        const m = means[run % channels];
        const scale = 1 / stds[run % channels];
        const end = (run + 1) * plane;
        for (let i = run * plane; i < end; i++) inputs[i] = (inputs[i] - m) * scale;
      }
      return inputs;
    },
  };
}

/** [C, H, W] → [C·H·W]. Config type `flatten`. */
export function flattenInputs(): Transform {
  return { name: "flatten", deterministic: true, spec: { type: "flatten" }, outputShape: (shape) => [shape.reduce((a, b) => a * b, 1)], apply: (inputs) => inputs };
}
