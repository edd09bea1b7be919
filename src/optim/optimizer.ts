import { fillWith } from "../engine/kernels/elementwise.ts";
import { Tensor } from "../engine/tensor.ts";

/** Hyperparameters every optimizer has; each optimizer adds its own. */
export interface BaseHyper {
  /** Learning rate (each optimizer's default: SGD 0.01, Adam 0.001, ...); schedulers change it. */
  lr: number;
}

/** A set of parameters sharing hyperparameters (PyTorch's param_groups). */
export interface ParamGroup<H extends BaseHyper> {
  /** The parameters this group updates. */
  params: Tensor[];
  /** The group's hyperparameters: the optimizer's defaults with the group's overrides. */
  hyper: H;
  /** The lr before any scheduler changed it; set by the first scheduler attached. */
  initialLr?: number;
}

/** A parameter group as given to a constructor: parameters plus overrides of the defaults. */
export type ParamGroupSpec<H extends BaseHyper> = {
  /** The parameters of the group; the other fields override the optimizer's defaults for them. */
  params: Tensor[];
} & Partial<H>;

/** Per-parameter optimizer state: a step count, named buffers and named scalars. */
export class ParameterState {
  step = 0;
  readonly buffers = new Map<string, Tensor>();
  readonly values = new Map<string, number>();

  /** The named buffer shaped like `like`, created filled with `initial` on first use. */
  buffer(name: string, like: Tensor, initial = 0): Tensor {
    let buffer = this.buffers.get(name);
    if (!buffer) {
      buffer = new Tensor(like.shape, "float32", `optimizer state ${name}`).keep();
      fillWith(buffer, initial);
      this.buffers.set(name, buffer);
    }
    return buffer;
  }

  dispose(): void {
    for (const buffer of this.buffers.values()) buffer.dispose();
    this.buffers.clear();
  }
}

/** A serializable snapshot of an optimizer (exact: buffers are copied bit for bit). */
export interface OptimizerState {
  /** The optimizer's name ("SGD", "Adam", ...); loading checks it. */
  optimizer: string;
  /** Hyperparameters and initial lr of each group, in order. */
  groups: Array<{
    /** The group's hyperparameters. */
    hyper: Record<string, unknown>;
    /** The lr before any scheduler changed it; absent when no scheduler was attached. */
    initialLr?: number;
    /** How many parameters the group has (loading checks it). */
    size: number;
  }>;
  /** State of each parameter in group order; null where the parameter has none yet. */
  state: Array<{
    /** Steps this parameter has taken. */
    step: number;
    /** Its buffers by name (e.g. Adam's "expAvg"), bit for bit. */
    buffers: Record<string, Float32Array>;
    /** Its scalars by name (e.g. NAdam's "muProduct"). */
    values: Record<string, number>;
  } | null>;
}

/**
 * The base of every optimizer: parameter groups with their own hyperparameters, one state per
 * parameter, `step()` over parameters that have a gradient, and exact state save/load.
 * Subclasses validate their hyperparameters and implement `update` with an in-place kernel.
 */
export abstract class Optimizer<H extends BaseHyper = BaseHyper> {
  readonly paramGroups: ParamGroup<H>[];
  private readonly states = new Map<Tensor, ParameterState>();

  /**
   * @param name the optimizer's name in error messages and state snapshots.
   * @param params the parameters, or groups of them with per-group overrides.
   * @param defaults the hyperparameters of groups that do not override them.
   */
  constructor(
    readonly name: string,
    params: Tensor[] | ParamGroupSpec<H>[],
    defaults: H,
  ) {
    const specs: ParamGroupSpec<H>[] = params.length > 0 && params[0] instanceof Tensor ? [{ params: params as Tensor[] } as ParamGroupSpec<H>] : (params as ParamGroupSpec<H>[]);
    if (specs.length === 0 || specs.every((spec) => spec.params.length === 0)) throw new Error(`gradscope: ${name} got an empty parameter list`);
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, index) => {
      const { params: groupParams, ...overrides } = spec;
      for (const p of groupParams) {
        if (seen.has(p)) throw new Error(`gradscope: ${name}: parameter ${p.name ?? p.toString()} appears in more than one group`);
        seen.add(p);
      }
      const hyper = { ...defaults, ...overrides } as H;
      this.validate(hyper, specs.length > 1 ? `param group ${index}: ` : "");
      return { params: groupParams, hyper };
    });
  }

  /** Throws naming the optimizer and the field when a hyperparameter is out of range. */
  protected abstract validate(hyper: H, where: string): void;

  /** Updates one parameter in place from its gradient. */
  protected abstract update(param: Tensor, grad: Tensor, state: ParameterState, hyper: H): void;

  /** One optimization step over every parameter that has a gradient. */
  step(): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        if (!param.grad) continue;
        this.update(param, param.grad, this.stateOf(param), group.hyper);
      }
    }
  }

  /** Drops every parameter's gradient (PyTorch's set_to_none). */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        param.grad?.dispose();
        param.grad = null;
      }
    }
  }

  /** The state of one parameter (created empty on first use). */
  stateOf(param: Tensor): ParameterState {
    let state = this.states.get(param);
    if (!state) {
      state = new ParameterState();
      this.states.set(param, state);
    }
    return state;
  }

  /** Every parameter, in group order. */
  parameters(): Tensor[] {
    return this.paramGroups.flatMap((group) => group.params);
  }

  /** A snapshot of hyperparameters and state that `loadStateDict` restores exactly. */
  stateDict(): OptimizerState {
    return {
      optimizer: this.name,
      groups: this.paramGroups.map((group) => ({ hyper: structuredClone(group.hyper) as Record<string, unknown>, initialLr: group.initialLr, size: group.params.length })),
      state: this.parameters().map((param) => {
        const state = this.states.get(param);
        if (!state) return null;
        return {
          step: state.step,
          buffers: Object.fromEntries([...state.buffers].map(([key, buffer]) => [key, buffer.data.slice()])),
          values: Object.fromEntries(state.values),
        };
      }),
    };
  }

  /** Restores a snapshot taken from an optimizer of the same kind over the same parameter shapes. */
  loadStateDict(snapshot: OptimizerState): void {
    if (snapshot.optimizer !== this.name) throw new Error(`gradscope: cannot load ${snapshot.optimizer} state into ${this.name}`);
    if (snapshot.groups.length !== this.paramGroups.length || snapshot.groups.some((g, i) => g.size !== this.paramGroups[i].params.length)) {
      throw new Error(`gradscope: ${this.name} state has groups of sizes [${snapshot.groups.map((g) => g.size)}], the optimizer [${this.paramGroups.map((g) => g.params.length)}]`);
    }
    const params = this.parameters();
    snapshot.state.forEach((saved, index) => {
      if (!saved) return;
      for (const [key, values] of Object.entries(saved.buffers)) {
        if (values.length !== params[index].size) {
          throw new Error(`gradscope: ${this.name} state buffer ${key} of parameter ${index} has ${values.length} values, the parameter ${params[index].size}`);
        }
      }
    });
    for (const state of this.states.values()) state.dispose();
    this.states.clear();
    snapshot.groups.forEach((saved, index) => {
      const group = this.paramGroups[index];
      group.hyper = structuredClone(saved.hyper) as unknown as H;
      group.initialLr = saved.initialLr;
    });
    snapshot.state.forEach((saved, index) => {
      if (!saved) return;
      const state = this.stateOf(params[index]);
      state.step = saved.step;
      for (const [key, values] of Object.entries(saved.buffers)) state.buffer(key, params[index]).data.set(values);
      for (const [key, value] of Object.entries(saved.values)) state.values.set(key, value);
    });
  }

  /** Frees the state buffers. */
  dispose(): void {
    for (const state of this.states.values()) state.dispose();
    this.states.clear();
  }
}
