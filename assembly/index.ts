export { gemm, gemmWorkspaceBytes } from "./gemm";
