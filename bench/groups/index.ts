// Every group of `npm run bench`, in the order they run. A new group is a module in this folder
// registered here.
import type { BenchGroup } from "../registry.ts";
import { cockpitGroup } from "./cockpit.ts";
import { dashboardGroup } from "./dashboard.ts";
import { gemmGroup } from "./gemm.ts";
import { loopGroup } from "./loop.ts";
import { nativeGroup } from "./native.ts";
import { optimizersGroup } from "./optimizers.ts";
import { pipelineGroup } from "./pipeline.ts";
import { statisticsGroup } from "./statistics.ts";
import { tfjsGroup } from "./tfjs.ts";
import { threadsGroup } from "./threads.ts";
import { zooGroup } from "./zoo.ts";

export const groups: BenchGroup[] = [
  gemmGroup,
  threadsGroup,
  optimizersGroup,
  tfjsGroup,
  statisticsGroup,
  cockpitGroup,
  loopGroup,
  zooGroup,
  pipelineGroup,
  nativeGroup,
  dashboardGroup,
];
