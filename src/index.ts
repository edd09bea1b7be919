/**
 * gradscope: train neural networks in Node.js and see what happens inside the training.
 * The public API: the engine (tensors, ops, autodiff, per-sample extensions), nn modules,
 * optimizers, schedulers, gradient utilities, metrics, data, the Trainer and config loading.
 */

export * from "./config/index.ts";
export * from "./data/index.ts";
export * from "./engine/extensions/index.ts";
export * from "./engine/index.ts";
export * from "./metrics/index.ts";
export * from "./nn/index.ts";
export * from "./optim/index.ts";
export * from "./train/index.ts";
