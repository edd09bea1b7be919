export { gemm, gemmRowsOfB, gemmWorkspaceBytes, gramLower } from "./gemm";
export { axpy, binaryPeriodic, dot, reluBackward, reluForward, rowSums, sumSquaresInto, transpose } from "./elementwise";
export { sparseColumnSquares, sparseColumnSquaresWorkspaceBytes } from "./curvature";
export { maxPoolBackward, maxPoolForward } from "./pool";
export { histogram1d, histogram2d, rankOneHistogram1d, rankOneHistogram2d, rankOneHistogramMaxBins } from "./histogram";
export { adagradUpdate, adamUpdate, clampInPlace, maxAbs, nadamUpdate, radamUpdate, rmspropUpdate, scaleInPlace, sgdUpdate } from "./optim";
export { col2imAdd, im2col } from "./im2col";
export { activationBackward, activationForward } from "./activations";
export { countNonzero, dotProduct, expandAxis, quotientSum, squaredDistance, sumAxis } from "./reduce";
