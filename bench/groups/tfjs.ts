// gradscope against TensorFlow.js with its WASM backend, both on one thread in this process.
import type { LayerSpec } from "../../src/nn/spec.ts";
import { type BenchGroup, type BenchRow, once } from "../registry.ts";
import { initTfjsWasm, tfjsCnnStep, tfjsMlpStep, tfjsNormalizationStep } from "../tfjsPeer.ts";
import { interleavedMedianMs } from "../timing.ts";
import { cnnSpec, gradscopeStep, layerForwardBackward, mlpSpec, normalizationShapes } from "../workloads.ts";

const tfjsBackend = once(initTfjsWasm);

// A gradscope call and its tfjs counterpart timed in turn: the rows "<name>, vs tfjs" (ours, the
// ratio being tfjs's time over ours) and "<name>, tfjs <backend>".
function againstTfjs(name: string, unit: "steps/s" | "ms", setup: () => { ours: () => void; peer: () => void; dispose: () => void; callsPerRun: number }): BenchRow[] {
  const timed = once(async () => {
    const backend = await tfjsBackend();
    const { ours, peer, dispose, callsPerRun } = setup();
    const repeated = (fn: () => void) => () => {
      for (let i = 0; i < callsPerRun; i++) fn();
    };
    const [oursMs, peerMs] = interleavedMedianMs([repeated(ours), repeated(peer)], 7, 1).map((ms) => ms / callsPerRun);
    dispose();
    return { backend, oursMs, peerMs };
  });
  const value = (ms: number) => (unit === "steps/s" ? 1000 / ms : ms);
  const digits = unit === "ms" ? 2 : 1;
  return [
    {
      name: `${name}, vs tfjs`,
      threads: 1,
      measure: async () => {
        const { oursMs, peerMs, backend } = await timed();
        return { value: value(oursMs), unit, digits, ratio: { value: peerMs / oursMs, of: `tfjs ${backend}` } };
      },
    },
    {
      name: `${name}, tfjs`,
      threads: 1,
      measure: async () => {
        const { peerMs, backend } = await timed();
        return { value: value(peerMs), unit, digits, note: `tfjs ${backend}, 1 thread` };
      },
    },
  ];
}

function trainingStep(name: string, spec: LayerSpec[], input: number[], batch: number, peer: (batch: number) => () => void, callsPerRun: number): BenchRow[] {
  return againstTfjs(name, "steps/s", () => {
    const ours = gradscopeStep(spec, input, batch);
    return { ours: ours.step, peer: peer(batch), dispose: ours.dispose, callsPerRun };
  });
}

function normalization(kind: keyof typeof normalizationShapes): BenchRow[] {
  const label = kind === "batchnorm2d" ? "BatchNorm2d (train)" : "LayerNorm";
  return againstTfjs(`${label} forward + backward, [${normalizationShapes[kind].join(", ")}]`, "ms", () => {
    const shape = [...normalizationShapes[kind]];
    const ours = layerForwardBackward([{ type: kind }], shape);
    return { ours: ours.step, peer: tfjsNormalizationStep(kind), dispose: ours.dispose, callsPerRun: 2 };
  });
}

export const tfjsGroup: BenchGroup = {
  name: "tfjs",
  rows: [
    ...trainingStep("MLP 784-256-128-10 step, batch 128", mlpSpec, [784], 128, tfjsMlpStep, 20),
    ...trainingStep("CNN 2x(conv3x3-relu-pool)-fc10 step, batch 64", cnnSpec, [1, 28, 28], 64, tfjsCnnStep, 5),
    ...normalization("batchnorm2d"),
    ...normalization("layernorm"),
  ],
};
