// TensorFlow.js with its WASM backend: the peer the engine issue measures against.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { normalizationShapes, randomBatch } from "./workloads.ts";

/** Selects the tfjs WASM backend (single-threaded, SIMD), loading its .wasm from node_modules. */
export async function initTfjsWasm(): Promise<string> {
  const require = createRequire(import.meta.url);
  const dist = join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm")), "/");
  setWasmPaths(dist);
  setThreadsCount(1);
  await tf.setBackend("wasm");
  await tf.ready();
  return tf.getBackend();
}

function dense(inputs: number, outputs: number): [tf.Variable, tf.Variable] {
  const bound = 1 / Math.sqrt(inputs);
  return [tf.variable(tf.randomUniform([inputs, outputs], -bound, bound)), tf.variable(tf.randomUniform([outputs], -bound, bound))];
}

/** MLP 784-256-128-10 step with plain SGD. */
export function tfjsMlpStep(batchSize: number): () => void {
  const layers = [dense(784, 256), dense(256, 128), dense(128, 10)];
  const { inputs, labels } = randomBatch([batchSize, 784], 10, 1);
  const x = tf.tensor2d(inputs, [batchSize, 784]);
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), 10);
  const optimizer = tf.train.sgd(0.01);
  return () => {
    const cost = optimizer.minimize(() => {
      let h: tf.Tensor2D = x;
      layers.forEach(([w, b], i) => {
        h = tf.add(tf.matMul(h, w), b);
        if (i < layers.length - 1) h = tf.relu(h);
      });
      return tf.losses.softmaxCrossEntropy(y, h) as tf.Scalar;
    }, true);
    cost?.dataSync();
    cost?.dispose();
  };
}

// 3x3 'same' convolution as im2col + matMul: tfjs-wasm registers no Conv2DBackpropFilter
// kernel, so the conv is built from pad, slice, concat and matMul, which all have gradients.
function conv3x3(h: tf.Tensor4D, w: tf.Variable, b: tf.Variable): tf.Tensor4D {
  const [n, height, width, channels] = h.shape;
  const padded = tf.pad(h, [
    [0, 0],
    [1, 1],
    [1, 1],
    [0, 0],
  ]);
  const patches: tf.Tensor4D[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) patches.push(tf.slice(padded, [0, i, j, 0], [n, height, width, channels]));
  const columns = tf.reshape(tf.concat(patches, 3), [n * height * width, 9 * channels]);
  return tf.reshape(tf.add(tf.matMul(columns, w as tf.Tensor2D), b), [n, height, width, -1]) as tf.Tensor4D;
}

/** CNN conv3x3x16-relu-maxpool2-conv3x3x32-relu-maxpool2-linear10 on 28x28, NHWC. */
export function tfjsCnnStep(batchSize: number): () => void {
  const [w1, b1] = dense(9, 16);
  const [w2, b2] = dense(9 * 16, 32);
  const [w3, b3] = dense(7 * 7 * 32, 10);
  const { inputs, labels } = randomBatch([batchSize, 28, 28, 1], 10, 1);
  const x = tf.tensor4d(inputs, [batchSize, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), 10);
  const optimizer = tf.train.sgd(0.01);
  return () => {
    const cost = optimizer.minimize(() => {
      let h = tf.maxPool(tf.relu(conv3x3(x, w1, b1)), 2, 2, "valid");
      h = tf.maxPool(tf.relu(conv3x3(h, w2, b2)), 2, 2, "valid");
      const logits = tf.add(tf.matMul(tf.reshape(h, [batchSize, -1]) as tf.Tensor2D, w3), b3);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    }, true);
    cost?.dataSync();
    cost?.dispose();
  };
}

/**
 * The same normalization passes in tfjs: batch norm over NHWC with the batch's moments, layer
 * norm over the last axis, each with an affine weight and bias, differentiated for the input and
 * both parameters.
 */
export function tfjsNormalizationStep(kind: keyof typeof normalizationShapes): () => void {
  // Batch norm runs on the same tensor laid out NHWC, normalizing over all axes but channels.
  const [n, c, h, w] = normalizationShapes.batchnorm2d;
  const shape = kind === "batchnorm2d" ? [n, h, w, c] : [...normalizationShapes.layernorm];
  const axes = kind === "batchnorm2d" ? [0, 1, 2] : [1];
  const features = shape[shape.length - 1];
  const x = tf.tensor(randomBatch(shape, 1, 2).inputs, shape);
  const r = tf.tensor(randomBatch(shape, 1, 3).inputs, shape);
  const scale = tf.ones([features]);
  const offset = tf.zeros([features]);
  const gradients = tf.grads((input: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) => {
    // tf.batchNorm's gradient wants per-channel statistics of the offset's rank; layer norm's
    // are per row, so both are written out: (x − μ)·(σ² + ε)^−½·w + b.
    const { mean, variance } = tf.moments(input, axes, true);
    const normalized = tf.mul(tf.sub(input, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    return tf.sum(tf.mul(tf.add(tf.mul(normalized, weight), bias), r));
  });
  return () => {
    const result = gradients([x, scale, offset]);
    result[0].dataSync();
    for (const t of result) t.dispose();
  };
}
