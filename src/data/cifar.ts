import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { PixelDataset, sharedBytes } from "./pixels.ts";
import type { SourceData } from "./sources.ts";
import { readTar, type TarLimit } from "./tar.ts";

const IMAGE_BYTES = 3 * 32 * 32;

/** The layout of a CIFAR binary release. */
interface CifarRelease {
  name: string;
  folder: string;
  archive: string;
  train: string[];
  test: string[];
  /** Label bytes before each image: 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine). */
  labelBytes: number;
}

// Both releases hold 50,000 training and 10,000 test images.
const RELEASE_IMAGES = 60_000;
// Room in an archive for tar headers and the small files beside the records (label names, readme).
const ARCHIVE_EXTRA_BYTES = 16 * 2 ** 20;

// The most the release's .tar.gz may inflate to: its records and a little room for the rest.
function archiveLimit(release: CifarRelease): TarLimit {
  const records = RELEASE_IMAGES * (release.labelBytes + IMAGE_BYTES);
  return {
    bytes: records + ARCHIVE_EXTRA_BYTES,
    why: `${release.name}'s binary release holds ${records} bytes of records and at most ${ARCHIVE_EXTRA_BYTES} bytes of headers and other files`,
  };
}

const releases: Record<"cifar10" | "cifar100", CifarRelease> = {
  cifar10: {
    name: "CIFAR-10",
    folder: "cifar-10-batches-bin",
    archive: "cifar-10-binary.tar.gz",
    train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    test: ["test_batch.bin"],
    labelBytes: 1,
  },
  cifar100: { name: "CIFAR-100", folder: "cifar-100-binary", archive: "cifar-100-binary.tar.gz", train: ["train.bin"], test: ["test.bin"], labelBytes: 2 },
};

/** Which CIFAR-100 label to train on: the 100 fine classes or the 20 coarse superclasses. */
export type CifarLabel = "fine" | "coarse";

/** The classes of a CIFAR source. */
export function cifarClasses(source: "cifar10" | "cifar100", label: CifarLabel = "fine"): number {
  return source === "cifar10" ? 10 : label === "coarse" ? 20 : 100;
}

type RecordFile = { name: string; bytes: Uint8Array };

// Where the release is: `location` may be the folder of .bin files, a folder holding that folder
// or the .tar.gz, or the .tar.gz itself. Returns a reader of its files by name.
function locate(release: CifarRelease, location: string): ((file: string) => RecordFile) | null {
  const fromFolder = (folder: string) => (file: string) => {
    const name = join(folder, file);
    if (!existsSync(name)) throw new Error(`gradscope: ${release.name}: ${name} is missing; the folder must hold ${[...release.train, ...release.test].join(", ")}`);
    return { name, bytes: readFileSync(name) };
  };
  const fromArchive = (archive: string) => {
    const files = readTar(archive, archiveLimit(release));
    return (file: string) => {
      const entry = [...files.entries()].find(([path]) => basename(path) === file);
      if (!entry) throw new Error(`gradscope: ${archive} has no ${file}; expected the ${release.name} binary release (${release.folder}/${file})`);
      return { name: `${archive}:${entry[0]}`, bytes: entry[1] };
    };
  };
  if (!existsSync(location)) return null;
  if (statSync(location).isFile()) return fromArchive(location);
  if (existsSync(join(location, release.train[0]))) return fromFolder(location);
  if (existsSync(join(location, release.folder, release.train[0]))) return fromFolder(join(location, release.folder));
  if (existsSync(join(location, release.archive))) return fromArchive(join(location, release.archive));
  return null;
}

// Images and labels from record files: each record is the label byte(s), then 1024 red, 1024
// green and 1024 blue bytes of a 32×32 image, row-major, which is [3, 32, 32] as it stands.
function records(release: CifarRelease, files: RecordFile[], labelIndex: number, classes: number, description: string): PixelDataset {
  const recordBytes = release.labelBytes + IMAGE_BYTES;
  for (const { name, bytes } of files) {
    if (bytes.length === 0 || bytes.length % recordBytes !== 0) {
      throw new Error(`gradscope: ${name} has ${bytes.length} bytes, not a whole number of ${recordBytes}-byte ${release.name} records`);
    }
  }
  const count = files.reduce((n, f) => n + f.bytes.length / recordBytes, 0);
  const pixels = sharedBytes(count * IMAGE_BYTES);
  const labels = new Int32Array(count);
  let n = 0;
  for (const { name, bytes } of files) {
    for (let at = 0; at < bytes.length; at += recordBytes, n++) {
      labels[n] = bytes[at + labelIndex];
      if (labels[n] >= classes) throw new Error(`gradscope: ${name}: record ${at / recordBytes} has label ${labels[n]}, outside the ${classes} classes`);
      pixels.set(bytes.subarray(at + release.labelBytes, at + recordBytes), n * IMAGE_BYTES);
    }
  }
  return new PixelDataset(pixels, labels, [3, 32, 32], classes, description);
}

/**
 * CIFAR-10 or CIFAR-100 from the official binary release, found at `location` (data.path) or
 * else $GRADSCOPE_DATA; nothing is downloaded. Pixels become [3, 32, 32] floats in [0, 1].
 */
export function loadCifar(source: "cifar10" | "cifar100", location: string | undefined, label: CifarLabel = "fine"): SourceData {
  const release = releases[source];
  if (label !== "fine" && label !== "coarse") throw new Error(`gradscope: data.label: ${release.name} labels are fine or coarse, got ${label}`);
  const where = location ?? process.env.GRADSCOPE_DATA;
  const files = [...release.train, ...release.test].join(", ");
  const origin = `the binary release from https://www.cs.toronto.edu/~kriz/cifar.html; gradscope downloads nothing`;
  if (where === undefined) {
    throw new Error(`gradscope: ${release.name}: set data.path or GRADSCOPE_DATA to the folder that holds ${release.folder}/ (${files}) or ${release.archive} (${origin})`);
  }
  const read = locate(release, where);
  if (!read) throw new Error(`gradscope: ${release.name} not found: expected ${join(where, release.folder)}/ holding ${files}, or ${join(where, release.archive)} (${origin})`);
  const classes = cifarClasses(source, label);
  const labelIndex = release.labelBytes === 2 && label === "fine" ? 1 : 0;
  const load = (names: string[], split: string) =>
    records(
      release,
      names.map((name) => read(name)),
      labelIndex,
      classes,
      `${release.name} ${split} (${where})`,
    );
  return { train: load(release.train, "train"), test: load(release.test, "test") };
}
