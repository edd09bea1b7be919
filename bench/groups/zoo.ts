// The model zoo's floors (issue 23): ResNet-20 and MobileNetV1 training steps in their CIFAR
// variants with and without the economy quantities, and MobileNet's depthwise convolution
// against a dense 1×1 convolution of the same shapes.
import { architectureLayers } from "../../src/nn/spec.ts";
import { quantityOverhead, type TrainingProblem } from "../quantities.ts";
import { type BenchGroup, type BenchRow, once } from "../registry.ts";
import { allThreads, atThreads, type ThreadRole, threadsOf } from "../threadCount.ts";
import { interleavedMedianMs } from "../timing.ts";
import { layerForwardBackward } from "../workloads.ts";

const cifarInput = [3, 32, 32];

// A plain SGD step and one with economy at every step, batch 128, timed in turn at all threads.
// Batch norm trains in train mode, where per-sample gradients are not defined: the tracker skips
// the quantities that need them (named in the row's note) and runs the rest.
function economyRows(name: string, arch: string): BenchRow[] {
  const problem: TrainingProblem = { name, layers: architectureLayers({ arch, variant: "cifar", classes: 10 }, cifarInput), input: cifarInput };
  const timed = once(() => atThreads(allThreads, quantityOverhead)(problem, ["economy"], { duePairs: false }));
  const stepName = `${name} (CIFAR variant, 3x32x32) training step`;
  return [
    {
      name: `${stepName}, batch 128, all threads`,
      threads: allThreads,
      measure: () => ({ value: 1000 / timed().plainMs, unit: "steps/s", digits: 2, note: "plain SGD" }),
    },
    {
      name: `${stepName} + economy every step, batch 128, all threads`,
      threads: allThreads,
      measure: () => {
        const { plainMs, everyStepMs, warnings } = timed();
        const skipped = warnings.flatMap((w) => /gradscope: (\S+) is skipped/.exec(w)?.[1] ?? []);
        return {
          value: 1000 / everyStepMs.economy,
          unit: "steps/s",
          digits: 2,
          ratio: { value: everyStepMs.economy / plainMs, of: "the plain step's time" },
          note: skipped.length > 0 ? `skipped under train-mode batch norm: ${skipped.join(", ")}` : undefined,
        };
      },
    },
  ];
}

// MobileNet's depthwise 3×3 convolution and a dense 1×1 convolution with the same input and
// output shapes ([64, 128, 16, 16]), forward + backward, at 1 thread and at all threads in turn.
const convShape = [64, 128, 16, 16];
const convolutions = once(() => {
  const depthwise = layerForwardBackward([{ type: "conv2d", out_channels: 128, kernel_size: 3, padding: 1, groups: 128 }], convShape);
  const dense = layerForwardBackward([{ type: "conv2d", out_channels: 128, kernel_size: 1 }], convShape);
  const [depthwiseOne, denseOne, depthwiseAll, denseAll] = interleavedMedianMs(
    [atThreads(1, depthwise.step), atThreads(1, dense.step), atThreads(allThreads, depthwise.step), atThreads(allThreads, dense.step)],
    7,
    1,
  );
  depthwise.dispose();
  dense.dispose();
  return { "1 thread": { depthwise: depthwiseOne, dense: denseOne }, "all threads": { depthwise: depthwiseAll, dense: denseAll } };
});

function convolutionRows(threads: ThreadRole): BenchRow[] {
  const count = threadsOf(threads);
  return [
    {
      name: `depthwise conv3x3 (128 channels, groups 128, padding 1) forward + backward, [${convShape.join(", ")}], ${threads}`,
      threads: count,
      measure: () => {
        const { depthwise, dense } = convolutions()[threads];
        return { value: depthwise, unit: "ms", digits: 2, ratio: { value: depthwise / dense, of: "the dense conv1x1's time" } };
      },
    },
    {
      name: `dense conv1x1 (128 to 128 channels) forward + backward, [${convShape.join(", ")}], ${threads}`,
      threads: count,
      measure: () => ({ value: convolutions()[threads].dense, unit: "ms", digits: 2 }),
    },
  ];
}

export const zooGroup: BenchGroup = {
  name: "zoo",
  rows: [...economyRows("ResNet-20", "resnet20"), ...economyRows("MobileNetV1", "mobilenet_v1"), ...convolutionRows("1 thread"), ...convolutionRows("all threads")],
};
