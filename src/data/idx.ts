import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { checkDataFile } from "./dataFile.ts";
import { PixelDataset, sharedBytes } from "./pixels.ts";

/** An IDX array (the MNIST file format): its dimensions and unsigned-byte data. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/**
 * Reads an IDX file of unsigned bytes, gzipped or not (by its first two bytes). Errors name
 * the path and what is wrong: missing file, bad magic number, unsupported type, truncation.
 */
export function readIdx(path: string): IdxArray {
  checkDataFile(path, "IDX file");
  let bytes: Uint8Array = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new Error(`gradscope: IDX file ${path} is not a valid gzip stream: ${(error as Error).message}`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new Error(`gradscope: IDX file ${path} has a bad magic number (${magic}); expected 00 00 <type> <dims>`);
  }
  if (bytes[2] !== 0x08) throw new Error(`gradscope: IDX file ${path} holds type 0x${bytes[2].toString(16)}; only unsigned bytes (0x08) are supported`);
  const dims = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dims === 0 || bytes.length < 4 + 4 * dims) throw new Error(`gradscope: IDX file ${path} is truncated in its header (${dims} dimensions)`);
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * dims;
  if (bytes.length - start < size) {
    throw new Error(`gradscope: IDX file ${path} is truncated: shape [${shape.join(", ")}] needs ${size} bytes of data, the file has ${bytes.length - start}`);
  }
  return { shape, data: bytes.subarray(start, start + size) };
}

// An IDX file that must hold images [N, H, W].
function readImageArray(path: string): IdxArray {
  const images = readIdx(path);
  if (images.shape.length !== 3) throw new Error(`gradscope: ${path}: expected images [N, H, W], got [${images.shape.join(", ")}]`);
  return images;
}

/** Images read from an IDX file: `count` images of `inputShape` [1, H, W], pixels in [0, 1]. */
export interface IdxImages {
  inputs: Float32Array;
  count: number;
  inputShape: [number, number, number];
}

/** Reads an IDX file of images [N, H, W] as floats in [0, 1], each image shaped [1, H, W]. */
export function readIdxImages(path: string): IdxImages {
  const images = readImageArray(path);
  const inputs = new Float32Array(images.data.length);
  for (let i = 0; i < inputs.length; i++) inputs[i] = images.data[i] / 255;
  return { inputs, count: images.shape[0], inputShape: [1, images.shape[1], images.shape[2]] };
}

/**
 * Images and labels from a pair of IDX files (MNIST, Fashion-MNIST, EMNIST layout). Pixels
 * become floats in [0, 1], shaped [1, H, W]; labels must match the images in number. EMNIST
 * stores each image transposed (column by column): `transpose` turns them upright.
 */
export function loadIdxPair(imagesPath: string, labelsPath: string, classes: number, description: string, transpose = false): PixelDataset {
  const images = readImageArray(imagesPath);
  const labels = readIdx(labelsPath);
  if (labels.shape.length !== 1) throw new Error(`gradscope: ${labelsPath}: expected labels [N], got [${labels.shape.join(", ")}]`);
  if (labels.shape[0] !== images.shape[0]) {
    throw new Error(`gradscope: ${labelsPath} has ${labels.shape[0]} labels but ${imagesPath} has ${images.shape[0]} images`);
  }
  const [count, rows, columns] = images.shape;
  const pixels = sharedBytes(images.data.length);
  if (transpose) {
    // Stored [rows, columns] is the image's [x, y]: pixel (y, x) of the upright image is stored at (x, y).
    for (let n = 0; n < count; n++) {
      const image = n * rows * columns;
      for (let y = 0; y < columns; y++) for (let x = 0; x < rows; x++) pixels[image + y * rows + x] = images.data[image + x * columns + y];
    }
  } else pixels.set(images.data);
  const targets = Int32Array.from(labels.data);
  const maxLabel = targets.reduce((a, b) => Math.max(a, b), 0);
  if (maxLabel >= classes) throw new Error(`gradscope: ${labelsPath} has label ${maxLabel}, outside the ${classes} classes`);
  return new PixelDataset(pixels, targets, transpose ? [1, columns, rows] : [1, rows, columns], classes, description);
}
