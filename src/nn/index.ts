export { ELU, Flatten, GELU, Hardswish, Lambda, LeakyReLU, LogSoftmax, Mish, ReLU, ReLU6, SELU, Sigmoid, SiLU, Softmax, Softplus, Tanh } from "./activations.ts";
export { Concat, ModuleList, Residual, Sequential } from "./containers.ts";
export { fansOf, gainOf, initializeTensor, type Nonlinearity, type WeightInit } from "./init.ts";
export { AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, LayerNorm, Linear, MaxPool2d } from "./layers.ts";
export { Module, type PredictOptions, type StateDict, type StateEntry } from "./module.ts";
export { architectureLayers, architectureNames, buildModel, buildNetwork, type InitSpec, type LayerSpec, type ModelSpec } from "./spec.ts";
export { SubsamplePad } from "./subsamplePad.ts";
export { type LayerSummary, type ModelSummary, summaryText } from "./summary.ts";
