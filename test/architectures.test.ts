import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { backward } from "../src/engine/autograd.ts";
import { parameter, tensor } from "../src/engine/creation.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean, sum } from "../src/engine/ops/reduce.ts";
import { scope } from "../src/engine/scope.ts";
import { architectures } from "../src/nn/architectures/index.ts";
import { architectureLayers, buildModel } from "../src/nn/spec.ts";
import { SGD } from "../src/optim/sgd.ts";
import { randomValues } from "./helpers.ts";

interface ParameterCount {
  name: string;
  num_params: number;
  num_parameter_tensors: number;
  num_classes: number;
  input_shape: number[];
  output_shape: number[];
}

const counts = (JSON.parse(readFileSync(new URL("../reference/models.json", import.meta.url), "utf8")) as { parameter_counts: ParameterCount[] }).parameter_counts;

test("every architecture in models.json's parameter_counts has torchvision's (or He et al.'s) parameter count and output shape", () => {
  assert.ok(counts.length >= 16);
  for (const reference of counts) {
    // The CIFAR ResNets are listed as resnet20_cifar ...; their arch name is resnet20.
    const arch = reference.name.replace(/_cifar$/, "");
    const { model, outputShape } = buildModel({ arch, classes: reference.num_classes }, reference.input_shape);
    assert.equal(model.parameterCount(), reference.num_params, `${arch} parameters`);
    assert.equal(model.parameters().length, reference.num_parameter_tensors, `${arch} parameter tensors`);
    assert.deepEqual(outputShape, reference.output_shape, arch);
    model.dispose();
  }
});

const forwardShape = (arch: string, variant: string, input: number[], classes = 10, batch = 2): number[] =>
  scope(() => {
    const { model } = buildModel({ arch, variant, classes }, input);
    const output = model.forward(tensor(randomValues(batch * input.reduce((a, b) => a * b), 3), [batch, ...input]));
    const shape = [...output.shape];
    assert.ok(output.toArray().every(Number.isFinite), `${arch} (${variant}) gives non-finite outputs`);
    model.dispose();
    return shape;
  });

test("every CIFAR variant runs forward on a batch of 2 3x32x32 images to [2, classes]", () => {
  for (const [arch, architecture] of Object.entries(architectures)) {
    if (!architecture.variants.includes("cifar")) continue;
    assert.deepEqual(forwardShape(arch, "cifar", [3, 32, 32], 7), [2, 7], arch);
  }
});

test("every CIFAR variant trains: four SGD steps on one batch of 4 images lower its loss, with a finite gradient for every parameter", () => {
  const input = [3, 32, 32];
  const pixels = randomValues(4 * 3 * 32 * 32, 5);
  for (const [arch, architecture] of Object.entries(architectures)) {
    if (!architecture.variants.includes("cifar")) continue;
    const { model } = buildModel({ arch, variant: "cifar", classes: 10 }, input, 7);
    // The 1202-layer ResNet starts with large logits (600 residual sums) and needs a smaller step,
    // as He et al. warm it up with one.
    const optimizer = new SGD(model.parameters(), { lr: arch === "resnet1202" ? 0.001 : 0.01, momentum: 0.9 });
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) {
      scope(() => {
        const loss = mean(crossEntropy(model.forward(tensor(pixels, [4, ...input])), tensor([0, 3, 5, 9], [4], "int32")));
        losses.push(loss.item());
        optimizer.zeroGrad();
        backward(loss);
        if (step === 0) {
          for (const [name, p] of model.namedParameters()) assert.ok(p.grad?.toArray().every(Number.isFinite), `${arch}: ${name} has a finite gradient`);
        }
        optimizer.step();
      });
    }
    assert.ok(losses[3] < losses[0], `${arch}: loss ${losses.map((l) => l.toFixed(4)).join(" -> ")}`);
    optimizer.dispose();
    model.dispose();
  }
});

test("ImageNet variants run forward, on smaller images where their pooling adapts, also with one input channel", () => {
  assert.deepEqual(forwardShape("resnet18", "imagenet", [1, 64, 64], 5, 1), [1, 5]);
  assert.deepEqual(forwardShape("mobilenet_v2", "imagenet", [3, 64, 64], 5, 1), [1, 5]);
  assert.deepEqual(forwardShape("mobilenet_v1", "imagenet", [3, 64, 64], 5, 1), [1, 5]);
  assert.deepEqual(forwardShape("densenet121", "imagenet", [3, 64, 64], 5, 1), [1, 5]);
  assert.deepEqual(forwardShape("googlenet", "imagenet", [3, 64, 64], 5, 1), [1, 5]);
  assert.deepEqual(forwardShape("resnet50", "imagenet", [3, 64, 64], 5, 1), [1, 5]);
  // AlexNet's and VGG's adaptive pooling only shrinks: AlexNet needs its 224x224 input (VGG too, at 7.6 G mult-adds and more).
  assert.deepEqual(forwardShape("alexnet", "imagenet", [3, 224, 224], 5, 1), [1, 5]);
});

test("LeNet-5 is ReLU with max pooling by default and tanh with average pooling as variant classic", () => {
  const types = (variant?: string) => architectureLayers({ arch: "lenet5", ...(variant ? { variant } : {}) }, [1, 28, 28]).map((layer) => layer.type);
  assert.deepEqual(types().slice(0, 3), ["conv2d", "relu", "maxpool2d"]);
  assert.deepEqual(types("classic").slice(0, 3), ["conv2d", "tanh", "avgpool2d"]);
  for (const variant of ["modern", "classic"]) {
    const { model } = buildModel({ arch: "lenet5", variant }, [1, 28, 28]);
    assert.equal(model.parameterCount(), 61706, variant);
    assert.deepEqual(forwardShape("lenet5", variant, [1, 28, 28]), [2, 10]);
  }
});

test("the variant defaults to imagenet from 64x64 inputs up and to cifar below", () => {
  const stem = (input: number[]) => architectureLayers({ arch: "resnet18" }, input)[0];
  assert.equal(stem([3, 224, 224]).kernel_size, 7);
  assert.equal(stem([3, 32, 32]).kernel_size, 3);
});

test("the option-A shortcut keeps every other pixel, pads zero channels on both sides, and passes gradients to the kept pixels", () => {
  scope(() => {
    const { model } = buildModel({ layers: [{ type: "subsample_pad", stride: 2, out_channels: 4 }] }, [2, 4, 4]);
    const values = Array.from({ length: 32 }, (_, i) => i);
    const x = parameter(values, [1, 2, 4, 4]);
    const y = model.forward(x);
    assert.deepEqual(y.shape, [1, 4, 2, 2]);
    const kept = (channel: number) => [0, 2, 8, 10].map((offset) => channel * 16 + offset);
    assert.deepEqual(y.toArray(), [0, 0, 0, 0, ...kept(0), ...kept(1), 0, 0, 0, 0]);
    backward(sum(y));
    const expected = values.map((i) => (i % 2 === 0 && Math.floor(i / 4) % 2 === 0 ? 1 : 0));
    assert.deepEqual(x.grad?.toArray(), expected);
  });
  assert.throws(
    () => buildModel({ layers: [{ type: "subsample_pad", out_channels: 5 }] }, [2, 4, 4]),
    /model\.layers\[0\]\.out_channels: is 5; expected the input's 2 channels plus an even number/,
  );
});

test("an unknown architecture or variant names the choices, with a did-you-mean", () => {
  assert.throws(
    () => buildModel({ arch: "resnet19" }, [3, 32, 32]),
    /model\.arch: unknown architecture "resnet19" \(did you mean "resnet18"\?\); known: mlp, lenet5, .*densenet121/,
  );
  assert.throws(() => buildModel({ arch: "mobilenetv2" }, [3, 32, 32]), /did you mean "mobilenet_v2"/);
  assert.throws(() => buildModel({ arch: "resnet20", variant: "imagenet" }, [3, 32, 32]), /model\.variant: resnet20 has no variant "imagenet"; expected cifar/);
  assert.throws(() => buildModel({ arch: "vgg11", classes: 0 }, [3, 32, 32]), /model\.classes: expected a positive integer, got 0/);
});
