export { Flatten, GELU, Lambda, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh } from "./activations.ts";
export { Residual, Sequential } from "./containers.ts";
export { AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, LayerNorm, Linear, MaxPool2d } from "./layers.ts";
export { Module, type PredictOptions, type StateDict, type StateEntry } from "./module.ts";
export { architectureLayers, buildModel, type LayerSpec, type ModelSpec } from "./spec.ts";
