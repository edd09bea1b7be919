import { squaredDistance } from "../engine/kernels/reductions.ts";
import { defineQuantity } from "./definition.ts";
import { ScheduledQuantity, type StepInfo } from "./quantity.ts";

/** L_t, the mini-batch mean loss. Config name `loss`. */
export class Loss extends ScheduledQuantity {
  readonly name = "Loss";
  compute(step: StepInfo): number {
    return step.loss;
  }
}

/** ‖g_k‖ per parameter tensor. Config name `grad_norm`. */
export class GradNorm extends ScheduledQuantity {
  readonly name = "GradNorm";
  compute(step: StepInfo): number[] {
    return step.gradSquaredNorms.map(Math.sqrt);
  }
}

/** ‖θ_t,k − θ_0,k‖ per parameter tensor. Config name `distance`. */
export class Distance extends ScheduledQuantity {
  readonly name = "Distance";
  compute(step: StepInfo): number[] {
    return step.params.map(({ tensor }, k) => Math.sqrt(squaredDistance(tensor, step.initialTensors[k])));
  }
}

/** ‖θ_{t+1},k − θ_t,k‖ per parameter tensor, stored under step t. Config name `update_size`. */
export class UpdateSize extends ScheduledQuantity {
  readonly name = "UpdateSize";
  computeAcross(previous: StepInfo, current: StepInfo): number[] {
    return current.params.map(({ tensor }, k) => Math.sqrt(squaredDistance(tensor, previous.valueTensors[k])));
  }
}

/** Wall-clock seconds (since 1970) at the step, as Cockpit's Time. Config name `time`. */
export class Time extends ScheduledQuantity {
  readonly name = "Time";
  compute(): number {
    return Date.now() / 1000;
  }
}

/** The definitions of the quantities above. */
export const basicDefinitions = [
  defineQuantity({ configName: "loss", name: "Loss", description: "the mini-batch mean loss L_t", options: {}, create: (_, schedule) => new Loss(schedule) }),
  defineQuantity({ configName: "time", name: "Time", description: "wall-clock seconds at the step", options: {}, create: (_, schedule) => new Time(schedule) }),
  defineQuantity({ configName: "grad_norm", name: "GradNorm", description: "‖g‖ per parameter tensor", options: {}, create: (_, schedule) => new GradNorm(schedule) }),
  defineQuantity({ configName: "distance", name: "Distance", description: "‖θ_t − θ_0‖ per parameter tensor", options: {}, create: (_, schedule) => new Distance(schedule) }),
  defineQuantity({
    configName: "update_size",
    name: "UpdateSize",
    description: "‖θ_{t+1} − θ_t‖ per parameter tensor, stored under step t",
    options: {},
    create: (_, schedule) => new UpdateSize(schedule),
  }),
];
