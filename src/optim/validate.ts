/** Hyperparameter checks whose errors name the optimizer (or scheduler), the field and the range. */
export class HyperCheck {
  /** @param owner e.g. "Adam"; @param where a prefix such as "param group 1: ". */
  constructor(
    private readonly owner: string,
    private readonly where = "",
  ) {}

  private fail(field: string, expected: string, value: unknown): never {
    throw new RangeError(`gradscope: ${this.owner}: ${this.where}${field} must be ${expected}, got ${JSON.stringify(value)}`);
  }

  /** A finite number >= 0. */
  nonNegative(field: string, value: number): this {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) this.fail(field, "a finite number >= 0", value);
    return this;
  }

  /** A finite number > 0. */
  positive(field: string, value: number): this {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) this.fail(field, "a finite number > 0", value);
    return this;
  }

  /** A number in [0, 1). */
  unitInterval(field: string, value: number): this {
    if (typeof value !== "number" || !(value >= 0 && value < 1)) this.fail(field, "in [0, 1)", value);
    return this;
  }

  /** A positive integer. */
  positiveInteger(field: string, value: number): this {
    if (!Number.isInteger(value) || value <= 0) this.fail(field, "a positive integer", value);
    return this;
  }

  /** A boolean. */
  boolean(field: string, value: unknown): this {
    if (typeof value !== "boolean") this.fail(field, "true or false", value);
    return this;
  }

  /** One of the listed strings. */
  oneOf(field: string, value: unknown, allowed: readonly string[]): this {
    if (typeof value !== "string" || !allowed.includes(value)) this.fail(field, `one of ${allowed.map((a) => `"${a}"`).join(", ")}`, value);
    return this;
  }

  /** A condition across fields, with its own explanation. */
  require(condition: boolean, field: string, expected: string, value: unknown): this {
    if (!condition) this.fail(field, expected, value);
    return this;
  }
}
