import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { packageFile } from "./packageFiles.ts";

/** A sliding window over H x W planes, as the im2col and pooling kernels take it. */
type Window = [height: number, width: number, kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number];

/** im2col and its adjoint: byte offsets, then the convolution geometry. */
type UnfoldKernel = (...args: [src: number, dst: number, channels: number, ...Window, dilationH: number, dilationW: number, outH: number, outW: number, rowStride: number]) => void;

/** The window geometry the pooling kernels take, in order. */
export type PoolGeometryArguments = [planes: number, ...Window, outH: number, outW: number];

/** The exports of the compiled AssemblyScript kernels (see assembly/index.ts). */
export interface WasmKernels {
  gemm(
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    beta: number,
    c: number,
    ldc: number,
    work: number,
  ): void;
  gemmWorkspaceBytes(): number;
  multiplyAddCeiling(rounds: number, seed: number): number;
  gemmRowsOfB(
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    rowsOfB: number,
    beta: number,
    c: number,
    ldc: number,
    work: number,
  ): void;
  transpose(src: number, rows: number, cols: number, dst: number): void;
  countNonzero(n: number, x: number): number;
  sparseDenseProduct(a: number, m: number, k: number, b: number, n: number, c: number, work: number): void;
  sparseDenseProductWorkspaceBytes(k: number): number;
  sparseConvInputGradient(
    ...args: [
      delta: number,
      channelsOut: number,
      weight: number,
      gradX: number,
      channels: number,
      ...Window,
      dilationH: number,
      dilationW: number,
      outH: number,
      outW: number,
      work: number,
    ]
  ): void;
  sparseConvInputGradientWorkspaceBytes(channelsOut: number, patch: number): number;
  gramLower(x: number, rows: number, length: number, c: number, work: number): void;
  symmetricProduct(first: number, second: number, n: number, scale: number, out: number): void;
  reluForward(x: number, y: number, n: number): void;
  reluBackward(x: number, dy: number, dx: number, n: number): void;
  axpy(n: number, alpha: number, x: number, y: number): void;
  dot(n: number, x: number, y: number): number;
  rowSums(x: number, rows: number, length: number, out: number): void;
  copyFloats(n: number, src: number, dst: number): void;
  sumSquaresInto(n: number, blocks: number, src: number, dst: number, sign: number): void;
  binaryPeriodic(op: number, a: number, b: number, out: number, n: number, period: number, inner: number): void;
  sumAxis(x: number, outer: number, length: number, inner: number, scale: number, out: number): void;
  maxAxis(x: number, outer: number, length: number, inner: number, out: number, argmax: number): void;
  expandAxis(g: number, outer: number, length: number, inner: number, scale: number, out: number): void;
  squaredDistance(n: number, x: number, y: number): number;
  dotProduct(n: number, x: number, y: number): number;
  quotientSum(n: number, x: number, y: number, epsilon: number): number;
  channelDots(
    values: number,
    weights: number,
    direction: number,
    channels: number,
    positions: number,
    channelsFirst: number,
    firstSample: number,
    endSample: number,
    out: number,
  ): void;
  rowDots(precise: number, length: number, x: number, y: number, yStride: number, firstRow: number, endRow: number, out: number): void;
  reduceChunks(op: number, n: number, x: number, y: number, epsilon: number, chunk: number, firstChunk: number, endChunk: number, out: number): void;
  channelSums(x: number, y: number, outer: number, channels: number, inner: number, centers: number, out: number): void;
  channelAffine(x: number, y: number, outer: number, channels: number, inner: number, center: number, scale: number, weight: number, shift: number, out: number): void;
  activationForward(op: number, x: number, y: number, n: number, param: number): void;
  activationBackward(op: number, x: number, y: number, dy: number, dx: number, n: number, param: number): void;
  maxPoolForward(x: number, y: number, argmax: number, firstPlane: number, ...geometry: PoolGeometryArguments): void;
  avgPool(x: number, y: number, ...geometryScaleGradient: [...PoolGeometryArguments, scale: number, gradient: boolean]): void;
  maxPoolBackward(dy: number, argmax: number, dx: number, count: number): void;
  histogram1d(values: number, n: number, scale: number, lo: number, hi: number, bins: number, counts: number, lanes: number): void;
  rankOneHistogram1d(
    columns: number,
    columnLength: number,
    rows: number,
    rowCount: number,
    batch: number,
    scale: number,
    lo: number,
    hi: number,
    bins: number,
    counts: number,
    scratch: number,
    work: number,
  ): void;
  rankOneHistogramMaxBins(): number;
  rankOneHistogramWorkBytes(): number;
  histogram2d(
    values: number,
    rows: number,
    size: number,
    yBins: number,
    lo: number,
    width: number,
    xmin: number,
    xmax: number,
    ybins: number,
    counts: number,
    bins: number,
    lanes: number,
  ): void;
  rankOneHistogram2d(
    delta: number,
    activations: number,
    yBins: number,
    batch: number,
    outFeatures: number,
    inFeatures: number,
    scale: number,
    lo: number,
    width: number,
    xmin: number,
    xmax: number,
    ybins: number,
    counts: number,
    bins: number,
    lanes: number,
    zeroRows: number,
  ): void;
  sgdUpdate(n: number, p: number, g: number, buf: number, lr: number, momentum: number, dampening: number, wd: number, scale: number, flags: number): void;
  adamUpdate(
    n: number,
    p: number,
    g: number,
    m: number,
    v: number,
    vmax: number,
    stepSize: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    eps: number,
    wd: number,
    decay: number,
    bc2Sqrt: number,
    flags: number,
  ): void;
  rmspropUpdate(n: number, p: number, g: number, sq: number, avg: number, buf: number, lr: number, alpha: number, eps: number, wd: number, momentum: number, flags: number): void;
  adagradUpdate(n: number, p: number, g: number, sum: number, clr: number, eps: number, wd: number, flags: number): void;
  nadamUpdate(
    n: number,
    p: number,
    g: number,
    m: number,
    v: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    eps: number,
    wd: number,
    decay: number,
    bc2: number,
    gradCoef: number,
    avgCoef: number,
    flags: number,
  ): void;
  radamUpdate(
    n: number,
    p: number,
    g: number,
    m: number,
    v: number,
    lr: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    eps: number,
    wd: number,
    decay: number,
    bc1: number,
    bc2Sqrt: number,
    rect: number,
    flags: number,
  ): void;
  scaleInPlace(n: number, x: number, alpha: number): void;
  clampInPlace(n: number, x: number, lo: number, hi: number): void;
  maxAbs(n: number, x: number): number;
  im2col: UnfoldKernel;
  col2imAdd: UnfoldKernel;
  /** Depthwise conv2d, direct, on output channels [first, end): mode 0 forward, 1 input gradient, 2 weight gradient (assembly/depthwise.ts). */
  depthwiseConv(mode: number, a: number, b: number, c: number, scratch: number, firstChannel: number, endChannel: number, ...geometry: DepthwiseGeometryArguments): void;
  convSamples(mode: number, first: number, last: number, geometry: number, a: number, weight: number, b: number, c: number, columns: number, work: number): void;
  convSamplesGeometryInts(): number;
  convGramWorkBytes(patch: number, groupOut: number, plane: number): number;
  sparseSampleWeightGradientsWorkBytes(patch: number, plane: number): number;
  convColumnSquares(
    first: number,
    last: number,
    geometry: number,
    x: number,
    deltas: number,
    columns: number,
    sparse: number,
    sign: number,
    weightSums: number,
    biasSums: number,
    work: number,
  ): void;
  convColumnSquaresWorkBytes(columns: number, groupOut: number, plane: number, patch: number): number;
  depthwiseScratchFloats(height: number, width: number, kernelH: number, kernelW: number, padH: number, padW: number, dilationH: number, dilationW: number): number;

  // Thread-range forms (src/engine/threads/): one part of a product, on the path the whole takes.
  gemmUsesDots(transA: number, transB: number, m: number, n: number, k: number): number;
  gemmBlocked(...args: Parameters<WasmKernels["gemm"]>): void;
  dotsGemm(m: number, n: number, k: number, alpha: number, a: number, lda: number, b: number, ldb: number, beta: number, c: number, ldc: number): void;
  gramLowerRows(x: number, rows: number, length: number, c: number, work: number, rowStart: number, rowEnd: number): void;
  channelSumsRange(...args: [...Parameters<WasmKernels["channelSums"]>, first: number, end: number]): void;
}

/** A depthwise convolution's shape as assembly/depthwise.ts takes it. */
export type DepthwiseGeometryArguments = [
  batch: number,
  inChannels: number,
  multiplier: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
  padH: number,
  padW: number,
  dilationH: number,
  dilationW: number,
  outH: number,
  outW: number,
];

/** Which kernel build was instantiated. */
export type WasmFlavor = "relaxed-simd" | "simd";

// Node 20's V8 validates relaxed SIMD only behind a flag; setting it before the first compile
// works from inside the process (NODE_OPTIONS refuses the flag). Newer V8 ignores it harmlessly.
setFlagsFromString("--experimental-wasm-relaxed-simd");

function buildFile(name: string): string {
  return packageFile(import.meta.url, 1, `build/${name}`);
}

function compile(preferred?: WasmFlavor): { module: WebAssembly.Module; flavor: WasmFlavor } {
  const relaxed = readFileSync(buildFile("gradscope.relaxed.wasm"));
  const wantRelaxed = preferred ? preferred === "relaxed-simd" : process.env.GRADSCOPE_NO_RELAXED_SIMD !== "1";
  if (wantRelaxed && WebAssembly.validate(relaxed)) {
    return { module: new WebAssembly.Module(relaxed), flavor: "relaxed-simd" };
  }
  const simd = readFileSync(buildFile("gradscope.simd.wasm"));
  return { module: new WebAssembly.Module(simd), flavor: "simd" };
}

/**
 * Instantiates the kernels on the given memory: the relaxed-SIMD build when the runtime accepts
 * it (unless GRADSCOPE_NO_RELAXED_SIMD=1 or `preferred` says otherwise). Throws with a hint if
 * the build is missing.
 */
export function instantiateKernels(memory: WebAssembly.Memory, preferred?: WasmFlavor): { kernels: WasmKernels; flavor: WasmFlavor; module: WebAssembly.Module } {
  let compiled: { module: WebAssembly.Module; flavor: WasmFlavor };
  try {
    compiled = compile(preferred);
  } catch (error) {
    throw new Error(`gradscope: cannot load the WASM kernels from build/ (run \`npm run build:wasm\`): ${String(error)}`);
  }
  const instance = new WebAssembly.Instance(compiled.module, { env: { memory, abort: wasmAbort } });
  return { kernels: instance.exports as unknown as WasmKernels, flavor: compiled.flavor, module: compiled.module };
}

function wasmAbort(): never {
  throw new Error("gradscope: a WASM kernel aborted");
}
