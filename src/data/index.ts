export { loadCsv } from "./csv.ts";
export { ArrayDataset, type Batch, type Dataset, Subset } from "./dataset.ts";
export { loadIdxPair, readIdx } from "./idx.ts";
export { DataLoader, type LoaderBatch, type LoaderOptions } from "./loader.ts";
export { debianFashionMnist, fashionMnistSample, loadSource, type SourceData, type SourceSpec } from "./sources.ts";
export { permutation, splitDataset } from "./split.ts";
export { blobs, regression, spirals } from "./synthetic.ts";
export { createTransform, flattenInputs, normalize, randomCrop, randomFlip, type Transform, type TransformSpec, transformTypes } from "./transforms.ts";
