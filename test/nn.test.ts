import assert from "node:assert/strict";
import { test } from "node:test";
import { backward } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { scope } from "../src/engine/scope.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import type { Sequential } from "../src/nn/containers.ts";
import { Dropout, Linear } from "../src/nn/layers.ts";
import { buildModel } from "../src/nn/spec.ts";
import { randomValues } from "./helpers.ts";

test("named parameters follow PyTorch's nn.Sequential names", () => {
  const { model, outputShape } = buildModel(
    { layers: [{ type: "linear", in: 20, out: 16 }, { type: "relu" }, { type: "linear", out: 12 }, { type: "tanh" }, { type: "linear", out: 5, bias: false }] },
    [20],
  );
  assert.deepEqual(
    model.namedParameters().map(([n, p]) => `${n}:${p.shape.join("x")}`),
    ["0.weight:16x20", "0.bias:16", "2.weight:12x16", "2.bias:12", "4.weight:5x12"],
  );
  assert.deepEqual(outputShape, [5]);
  model.dispose();
});

test("PyTorch default init: Linear weights and biases lie in ±1/sqrt(fan_in), and the same seed gives the same weights", () => {
  const a = buildModel({ arch: "mlp", hidden: [32], classes: 3 }, [50], 7).model;
  const b = buildModel({ arch: "mlp", hidden: [32], classes: 3 }, [50], 7).model;
  const c = buildModel({ arch: "mlp", hidden: [32], classes: 3 }, [50], 8).model;
  const bound = 1 / Math.sqrt(50);
  const w = a.namedParameters()[0][1].toArray();
  assert.ok(w.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.max(...w) > 0.9 * bound, "uses the full range");
  assert.deepEqual(a.stateDict(), b.stateDict());
  assert.notDeepEqual(a.stateDict(), c.stateDict());
  for (const m of [a, b, c]) m.dispose();
});

test("stateDict/loadStateDict round-trip parameters and buffers, and reject mismatches by name", () => {
  const spec = { layers: [{ type: "conv2d", out_channels: 2, kernel_size: 3 }, { type: "batchnorm2d" }, { type: "flatten" }, { type: "linear", out: 3 }] };
  const source = buildModel(spec, [1, 5, 5], 1).model;
  scope(() => source.forward(tensor(randomValues(2 * 25, 2), [2, 1, 5, 5])));
  const target = buildModel(spec, [1, 5, 5], 2).model;
  target.loadStateDict(source.stateDict());
  assert.deepEqual(target.stateDict(), source.stateDict());
  assert.equal(source.stateDict()["1.num_batches_tracked"].data[0], 1);
  const broken = source.stateDict();
  broken["3.weight"].shape = [3, 19];
  assert.throws(() => target.loadStateDict(broken), /3\.weight has shape \[3, 19\], the model expects \[3, 18\]/);
  const { "0.bias": _removed, ...missing } = source.stateDict();
  assert.throws(() => target.loadStateDict(missing), /missing keys \[0\.bias\]/);
  source.dispose();
  target.dispose();
});

test("named architectures infer their shapes (DeepOBS 2c2d and 3c3d, LeNet-5)", () => {
  const cases: Array<[string, number[], number]> = [
    ["2c2d", [1, 28, 28], 3274634],
    ["3c3d", [3, 32, 32], 895210],
    ["lenet5", [1, 28, 28], 61706],
  ];
  for (const [arch, input, count] of cases) {
    const { model, outputShape } = buildModel({ arch }, input);
    assert.deepEqual(outputShape, [10], arch);
    assert.equal(model.parameterCount(), count, `${arch} parameter count`);
    model.dispose();
  }
});

test("bad model specs name the field and suggest the right name", () => {
  assert.throws(() => buildModel({ layers: [{ type: "linaer", out: 3 }] }, [4]), /model\.layers\[0\]\.type: unknown layer type "linaer" \(did you mean "linear"\?\)/);
  assert.throws(() => buildModel({ layers: [{ type: "linear", in: 5, out: 3 }] }, [4]), /model\.layers\[0\]\.in: is 5 but the incoming features are 4/);
  assert.throws(() => buildModel({ arch: "2d2c" }, [1, 28, 28]), /unknown architecture "2d2c" \(did you mean "2c2d"\?\)/);
  assert.throws(() => buildModel({ layers: [{ type: "conv2d", out_channels: 2 }] }, [1, 5, 5]), /model\.layers\[0\]\.kernel_size: is required/);
});

test("dropout is seeded, scales kept units by 1/(1-p), and is the identity in eval mode", () => {
  scope(() => {
    const x = tensor(new Array(1000).fill(1), [1000]);
    const first = new Dropout(0.25, 3).forward(x).toArray();
    const again = new Dropout(0.25, 3).forward(x).toArray();
    assert.deepEqual(first, again);
    const kept = first.filter((v) => v !== 0);
    assert.ok(kept.every((v) => Math.abs(v - 4 / 3) < 1e-6));
    assert.ok(Math.abs(kept.length / 1000 - 0.75) < 0.05, `kept fraction ${kept.length / 1000}`);
    assert.deepEqual(new Dropout(0.25, 3).eval().forward(x).toArray(), x.toArray());
  });
});

test("Linear rejects a wrongly shaped input naming both shapes", () => {
  const layer = new Linear(4, 2);
  scope(() => assert.throws(() => layer.forward(tensor([1, 2, 3], [1, 3])), /linear: input \[1, 3\], weight \[2, 4\]/));
  layer.dispose();
});

test("a Sequential runs ReLU next to max pooling, in either order, as one op with the same loss and gradients as layer by layer", () => {
  for (const order of [
    [{ type: "relu" }, { type: "maxpool2d", kernel_size: 2 }],
    [{ type: "maxpool2d", kernel_size: 2 }, { type: "relu" }],
  ]) {
    const { model } = buildModel({ layers: [{ type: "conv2d", out_channels: 4, kernel_size: 3 }, ...order, { type: "flatten" }, { type: "linear", out: 3 }] }, [2, 8, 8], 5);
    const sequential = model as Sequential;
    const run = (forward: (x: Tensor) => Tensor) =>
      scope(() => {
        model.zeroGrad();
        const loss = mean(crossEntropy(forward(tensor(randomValues(4 * 2 * 8 * 8, 6), [4, 2, 8, 8])), tensor([0, 1, 2, 1], [4], "int32")));
        const ops: string[] = [];
        for (let node = loss.node; node; node = node.inputs.find((input) => input?.node)?.node ?? null) ops.push(node.op);
        backward(loss);
        return { loss: loss.item(), ops, grads: model.parameters().map((p) => p.grad?.toArray()) };
      });
    const fused = run((x) => model.forward(x));
    const layered = run((x) => sequential.layers.reduce((h, layer) => layer.forward(h), x));
    assert.ok(fused.ops.includes("maxpool2d_relu") && !fused.ops.includes("relu"), fused.ops.join(" <- "));
    assert.ok(layered.ops.includes("relu"));
    assert.equal(fused.loss, layered.loss);
    assert.deepEqual(fused.grads, layered.grads);
    model.dispose();
  }
});
