import assert from "node:assert/strict";
import { test } from "node:test";
import { backward } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { backwardWithExtensions } from "../src/engine/extensions/index.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { matmul } from "../src/engine/ops/matmul.ts";
import { mean, sum } from "../src/engine/ops/reduce.ts";
import { relu } from "../src/engine/ops/unary.ts";
import { keep, scope } from "../src/engine/scope.ts";
import { liveTensorCount, Tensor } from "../src/engine/tensor.ts";
import { buildModel } from "../src/nn/spec.ts";
import { randomValues } from "./helpers.ts";

test("scope frees everything but returned and kept tensors; dispose is idempotent", () => {
  const before = liveTensorCount();
  let kept: Tensor | undefined;
  const returned = scope(() => {
    tensor([1, 2, 3]);
    kept = keep(tensor([4]));
    return { value: tensor([5, 6]) };
  });
  assert.equal(liveTensorCount(), before + 2);
  assert.deepEqual(returned.value.toArray(), [5, 6]);
  returned.value.dispose();
  returned.value.dispose();
  kept?.dispose();
  assert.equal(liveTensorCount(), before);
  assert.throws(() => returned.value.data, /disposed tensor/);
});

test("a training step with and without per-sample extensions leaks no tensor", () => {
  const { model } = buildModel(
    { layers: [{ type: "conv2d", out_channels: 3, kernel_size: 3 }, { type: "relu" }, { type: "maxpool2d", kernel_size: 2 }, { type: "flatten" }, { type: "linear", out: 4 }] },
    [1, 6, 6],
    1,
  );
  const step = (extensions: boolean) =>
    scope(() => {
      const x = tensor(randomValues(2 * 36, 3), [2, 1, 6, 6]);
      const y = tensor([1, 3], [2], "int32");
      const loss = mean(crossEntropy(model.forward(x), y));
      if (extensions) backwardWithExtensions(loss, { batchL2: true, batchDot: true, sumGradSquared: true, hist1d: { bins: 10, range: [-1, 1] } });
      else backward(loss);
    });
  step(false); // creates the .grad tensors, which persist like PyTorch's
  const before = liveTensorCount();
  step(false);
  step(true);
  assert.equal(liveTensorCount(), before);
  model.dispose();
});

test("invalid shapes and out-of-memory requests throw errors that name the tensor", () => {
  assert.throws(() => new Tensor([2, -1]), /invalid shape \[2, -1\]/);
  assert.throws(() => new Tensor([2 ** 31], "float32", "a huge activation"), /out of memory allocating float32\[2147483648\] for a huge activation/);
});

test("tensors above the first 2 GiB of engine memory are read and written at the right place", () => {
  // An untouched 2 GiB block pushes the next tensors past 2³¹ bytes, where a signed shift of the
  // byte address would give a negative element index.
  const filler = new Tensor([2 ** 29 + 16], "float32", "filler");
  scope(() => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    assert.ok(a.ptr >= 2 ** 31, `tensor at byte ${a.ptr}`);
    assert.deepEqual(a.toArray(), [1, 2, 3, 4]);
    const product = matmul(a, a);
    assert.deepEqual(product.toArray(), [7, 10, 15, 22]);
    assert.equal(sum(relu(product)).item(), 54);
  });
  filler.dispose();
});
