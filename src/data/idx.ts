import { readFileSync } from "node:fs";
import { checkDataFile } from "./dataFile.ts";
import { gunzipAtMost, gunzipHead, isGzip, maxDeflateRatio } from "./gzip.ts";
import { PixelDataset, sharedBytes } from "./pixels.ts";

/** An IDX array (the MNIST file format): its dimensions and unsigned-byte data. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

// The longest IDX header: the magic number and 255 dimensions of 4 bytes each.
const MAX_HEADER_BYTES = 4 + 4 * 255;

// An IDX file whose header has been read and checked, its data not yet decompressed.
interface IdxFile {
  path: string;
  /** The file as read: gzip or plain. */
  bytes: Uint8Array;
  shape: number[];
  /** Where the data start in the (decompressed) file. */
  start: number;
  /** Bytes of data the shape needs. */
  size: number;
}

// Reads a file and its header. A gzipped file's header is inflated alone, and its shape is
// checked against what the compressed bytes can hold, before anything is allocated for its data.
function openIdx(path: string): IdxFile {
  checkDataFile(path, "IDX file");
  const bytes: Uint8Array = readFileSync(path);
  const gzip = isGzip(bytes);
  const header = gzip ? gunzipHead(bytes, MAX_HEADER_BYTES, `IDX file ${path}`) : bytes;
  if (header.length < 4 || header[0] !== 0 || header[1] !== 0) {
    const magic = Array.from(header.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new Error(`gradscope: IDX file ${path} has a bad magic number (${magic}); expected 00 00 <type> <dims>`);
  }
  if (header[2] !== 0x08) throw new Error(`gradscope: IDX file ${path} holds type 0x${header[2].toString(16)}; only unsigned bytes (0x08) are supported`);
  const dims = header[3];
  const start = 4 + 4 * dims;
  if (dims === 0 || header.length < start) throw new Error(`gradscope: IDX file ${path} is truncated in its header (${dims} dimensions)`);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  if (gzip && start + size > maxDeflateRatio * bytes.length) {
    throw new Error(
      `gradscope: IDX file ${path} is damaged: its header's shape [${shape.join(", ")}] needs ${size} bytes of data, more than its ${bytes.length} gzip bytes can hold (deflate expands at most ${maxDeflateRatio}:1)`,
    );
  }
  return { path, bytes, shape, start, size };
}

// The data of an opened file: a gzipped one is inflated to no more than its header promises.
function idxData({ path, bytes, shape, start, size }: IdxFile): Uint8Array {
  const file = isGzip(bytes) ? gunzipAtMost(bytes, start + size, `IDX file ${path}`, `its header's shape [${shape.join(", ")}] makes a file of ${start + size} bytes`) : bytes;
  if (file.length - start < size) {
    throw new Error(`gradscope: IDX file ${path} is truncated: shape [${shape.join(", ")}] needs ${size} bytes of data, the file has ${file.length - start}`);
  }
  return file.subarray(start, start + size);
}

/**
 * Reads an IDX file of unsigned bytes, gzipped or not (by its first two bytes). Errors name
 * the path and what is wrong: missing file, bad magic number, unsupported type, truncation, and
 * a gzipped file that inflates to more than its header's shape (refused before it is inflated
 * further, as is a header that promises more than the compressed file can hold).
 */
export function readIdx(path: string): IdxArray {
  const file = openIdx(path);
  return { shape: file.shape, data: idxData(file) };
}

// An IDX file that must hold images [N, H, W], checked before its data are read.
function openImages(path: string): IdxFile {
  const images = openIdx(path);
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
  const images = openImages(path);
  const data = idxData(images);
  const inputs = new Float32Array(data.length);
  for (let i = 0; i < inputs.length; i++) inputs[i] = data[i] / 255;
  return { inputs, count: images.shape[0], inputShape: [1, images.shape[1], images.shape[2]] };
}

/**
 * Images and labels from a pair of IDX files (MNIST, Fashion-MNIST, EMNIST layout). Pixels
 * become floats in [0, 1], shaped [1, H, W]; labels must match the images in number. EMNIST
 * stores each image transposed (column by column): `transpose` turns them upright. Both headers
 * are checked, against each other and against `expectedShape` (the images [N, H, W] a known data
 * set has), before either file's data are read.
 */
export function loadIdxPair(
  imagesPath: string,
  labelsPath: string,
  classes: number,
  description: string,
  transpose = false,
  expectedShape?: readonly [number, number, number],
): PixelDataset {
  const images = openImages(imagesPath);
  if (expectedShape && images.shape.some((size, i) => size !== expectedShape[i])) {
    throw new Error(`gradscope: ${imagesPath}: its header says images [${images.shape.join(", ")}], but ${description} has [${expectedShape.join(", ")}]`);
  }
  const labels = openIdx(labelsPath);
  if (labels.shape.length !== 1) throw new Error(`gradscope: ${labelsPath}: expected labels [N], got [${labels.shape.join(", ")}]`);
  if (labels.shape[0] !== images.shape[0]) {
    throw new Error(`gradscope: ${labelsPath} has ${labels.shape[0]} labels but ${imagesPath} has ${images.shape[0]} images`);
  }
  const [count, rows, columns] = images.shape;
  const imageData = idxData(images);
  const pixels = sharedBytes(imageData.length);
  if (transpose) {
    // Stored [rows, columns] is the image's [x, y]: pixel (y, x) of the upright image is stored at (x, y).
    for (let n = 0; n < count; n++) {
      const image = n * rows * columns;
      for (let y = 0; y < columns; y++) for (let x = 0; x < rows; x++) pixels[image + y * rows + x] = imageData[image + x * columns + y];
    }
  } else pixels.set(imageData);
  const targets = Int32Array.from(idxData(labels));
  const maxLabel = targets.reduce((a, b) => Math.max(a, b), 0);
  if (maxLabel >= classes) throw new Error(`gradscope: ${labelsPath} has label ${maxLabel}, outside the ${classes} classes`);
  return new PixelDataset(pixels, targets, transpose ? [1, columns, rows] : [1, rows, columns], classes, description);
}
