export { gemm, gemmWorkspaceBytes } from "./gemm";
export { axpy, reluBackward, reluForward } from "./elementwise";
export { maxPoolBackward, maxPoolForward } from "./pool";
