import { existsSync } from "node:fs";
import { join } from "node:path";
import { packageFile } from "../engine/packageFiles.ts";
import { type CifarLabel, loadCifar } from "./cifar.ts";
import { loadCsv } from "./csv.ts";
import type { Dataset } from "./dataset.ts";
import { loadIdxPair } from "./idx.ts";
import { splitDataset } from "./split.ts";
import { blobs, regression, spirals } from "./synthetic.ts";

/** Where Debian's dataset-fashion-mnist package puts the data. */
export const debianFashionMnist = "/usr/share/datasets/fashion-mnist";

/** A data source as the config's `data` section names it. */
export type SourceSpec =
  | {
      /** Fashion-MNIST from its four IDX files (.gz or not). */
      source: "fashion-mnist";
      /** Their directory (default /usr/share/datasets/fashion-mnist, else the bundled sample with a notice). */
      path?: string;
    }
  | {
      /** The bundled sample: 3000 Fashion-MNIST test images, split 2400 train / 600 test by a fixed seed. */
      source: "fashion-mnist-sample";
    }
  | {
      /** Any four IDX files (MNIST, EMNIST, KMNIST, ...). */
      source: "idx";
      /** Their directory. */
      path: string;
      /** Number of classes of the labels. */
      classes: number;
      /** The training images' file name in `path` (with or without .gz). */
      train_images: string;
      /** The training labels' file name. */
      train_labels: string;
      /** The test images' file name. */
      test_images: string;
      /** The test labels' file name. */
      test_labels: string;
      /** Turn images stored column by column (EMNIST) upright (default false). */
      transpose?: boolean;
    }
  | {
      /** CIFAR-10's binary release. */
      source: "cifar10";
      /** The folder holding its binary release or .tar.gz (default $GRADSCOPE_DATA; one of them is required). */
      path?: string;
    }
  | {
      /** CIFAR-100's binary release. */
      source: "cifar100";
      /** The folder holding its binary release or .tar.gz (default $GRADSCOPE_DATA; one of them is required). */
      path?: string;
      /** The 100 fine classes or the 20 coarse superclasses (default "fine"). */
      label?: CifarLabel;
    }
  | {
      /** A CSV file with a header row and numeric columns. */
      source: "csv";
      /** The training file. */
      path: string;
      /** A test file with the same columns; absent: no test split of its own. */
      test_path?: string;
      /** The label column's header name (default: the last column). */
      label?: string;
      /** Number of classes for integer labels; 0 reads the label as a regression target. */
      classes: number;
    }
  | {
      /** Synthetic Gaussian blobs (a test set of a fifth as many points). */
      source: "blobs";
      /** Number of training points. */
      samples: number;
      /** Number of blobs, one class each. */
      classes: number;
      /** Dimensions of a point. */
      dims: number;
      /** Standard deviation of the points around their centre (centres lie in [−5, 5]^dims). */
      std: number;
    }
  | {
      /** Two interleaved spirals in the plane, two classes. */
      source: "spirals";
      /** Number of training points. */
      samples: number;
      /** Standard deviation of the Gaussian noise added to each point. */
      noise: number;
    }
  | {
      /** Regression of y = Σ_d sin(x_d) + noise·N(0, 1), x uniform in [−π, π]^dims. */
      source: "regression";
      /** Number of training points. */
      samples: number;
      /** Dimensions of x. */
      dims: number;
      /** Standard deviation of the noise on y. */
      noise: number;
    };

/** The data sets a source provides; `test` is null when the source has no test split of its own. */
export interface SourceData {
  /** The training set (the validation split is taken from it later). */
  train: Dataset;
  /** The source's own test set, or null. */
  test: Dataset | null;
  /** A note for the user, e.g. that a fallback was used. */
  notice?: string;
}

// An IDX file by name, with or without .gz.
function idxFile(directory: string, name: string): string {
  const plain = join(directory, name);
  if (existsSync(plain)) return plain;
  if (existsSync(`${plain}.gz`)) return `${plain}.gz`;
  return name.endsWith(".gz") ? plain : `${plain}.gz`;
}

// Images [N, H, W] as an IDX header gives them.
type ImagesShape = [number, number, number];

function idxPair(directory: string, images: string, labels: string, classes: number, what: string, transpose = false, shape?: ImagesShape): Dataset {
  return loadIdxPair(idxFile(directory, images), idxFile(directory, labels), classes, `${what} (${directory})`, transpose, shape);
}

// Fashion-MNIST's images [N, H, W]: its files are checked against them before they are inflated.
const fashionMnistShapes: { train: ImagesShape; test: ImagesShape } = { train: [60_000, 28, 28], test: [10_000, 28, 28] };

/**
 * The train and test pairs of an IDX folder. Their image sizes are compared here, when the data
 * are opened, rather than surfacing as a shape error after a whole training epoch.
 */
function idxSplits(
  directory: string,
  files: { trainImages: string; trainLabels: string; testImages: string; testLabels: string },
  classes: number,
  what: string,
  transpose = false,
  shapes?: { train: ImagesShape; test: ImagesShape },
): SourceData {
  const train = idxPair(directory, files.trainImages, files.trainLabels, classes, `${what} train`, transpose, shapes?.train);
  const test = idxPair(directory, files.testImages, files.testLabels, classes, `${what} test`, transpose, shapes?.test);
  const size = (d: Dataset) => d.inputShape.slice(1).join("×");
  if (size(train) !== size(test)) {
    throw new Error(
      `gradscope: IDX images differ in size: ${idxFile(directory, files.trainImages)} holds ${size(train)} images, ${idxFile(directory, files.testImages)} holds ${size(test)}; train and test must match`,
    );
  }
  return { train, test };
}

/**
 * The bundled sample: the first 3000 Fashion-MNIST test images, split 2400/600 by a fixed seed.
 * Its test set always exists, so its type says so (a user's `new DataLoader(test, …)` needs no
 * null check).
 */
export function fashionMnistSample(): SourceData & { test: Dataset } {
  const directory = packageFile(import.meta.url, 1, "data/fashion-mnist-sample");
  const all = idxPair(directory, "images-idx3-ubyte", "labels-idx1-ubyte", 10, "bundled Fashion-MNIST sample");
  const [train, test] = splitDataset(all, 0.2, 12345, ["train", "test"]);
  return { train, test };
}

/**
 * Loads a source. `seed` seeds synthetic data (the test part of synthetic sets uses its own
 * seed so that it never overlaps the training examples' generator stream).
 */
export function loadSource(spec: SourceSpec, seed: number): SourceData {
  switch (spec.source) {
    case "fashion-mnist": {
      const directory = spec.path ?? debianFashionMnist;
      if (!existsSync(directory)) {
        if (spec.path !== undefined) throw new Error(`gradscope: data.path ${directory} does not exist`);
        return {
          ...fashionMnistSample(),
          notice: `${debianFashionMnist} not found (apt-get install dataset-fashion-mnist); using the bundled sample of 3000 test images instead`,
        };
      }
      return idxSplits(
        directory,
        { trainImages: "train-images-idx3-ubyte", trainLabels: "train-labels-idx1-ubyte", testImages: "t10k-images-idx3-ubyte", testLabels: "t10k-labels-idx1-ubyte" },
        10,
        "Fashion-MNIST",
        false,
        fashionMnistShapes,
      );
    }
    case "fashion-mnist-sample":
      return fashionMnistSample();
    case "idx":
      return idxSplits(
        spec.path,
        { trainImages: spec.train_images, trainLabels: spec.train_labels, testImages: spec.test_images, testLabels: spec.test_labels },
        spec.classes,
        "IDX",
        spec.transpose,
      );
    case "cifar10":
      return loadCifar("cifar10", spec.path);
    case "cifar100":
      return loadCifar("cifar100", spec.path, spec.label);
    case "csv":
      return {
        train: loadCsv(spec.path, { label: spec.label, classes: spec.classes }),
        test: spec.test_path ? loadCsv(spec.test_path, { label: spec.label, classes: spec.classes }) : null,
      };
    case "blobs":
      return {
        train: blobs(spec.samples, spec.classes, spec.dims, spec.std, seed),
        test: blobs(Math.ceil(spec.samples / 5), spec.classes, spec.dims, spec.std, seed, seed + 7919),
      };
    case "spirals":
      return { train: spirals(spec.samples, spec.noise, seed), test: spirals(Math.ceil(spec.samples / 5), spec.noise, seed + 7919) };
    case "regression":
      return { train: regression(spec.samples, spec.dims, spec.noise, seed), test: regression(Math.ceil(spec.samples / 5), spec.dims, spec.noise, seed + 7919) };
  }
}
