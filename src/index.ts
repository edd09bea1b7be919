/**
 * gradscope: train neural networks in Node.js and see what happens inside the training.
 * The public API: the engine (tensors, ops, autodiff, per-sample extensions) and nn modules.
 */

export * from "./engine/extensions/index.ts";
export * from "./engine/index.ts";
export * from "./nn/index.ts";
