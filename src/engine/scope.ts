import { beginScope, endScope, Tensor } from "./tensor.ts";

function collectTensors(value: unknown, out: Tensor[], seen: Set<unknown>): void {
  if (value instanceof Tensor) {
    out.push(value);
    return;
  }
  // Typed arrays hold numbers only; walking their elements would cost a pass over the data.
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value) || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) for (const item of value) collectTensors(item, out, seen);
  else if (value instanceof Map) for (const item of value.values()) collectTensors(item, out, seen);
  else for (const item of Object.values(value)) collectTensors(item, out, seen);
}

/**
 * Runs `fn` and disposes every tensor created inside it except those it returns (anywhere in
 * an array, Map or plain object) and those `keep()`-ed. Like tf.tidy; scopes nest.
 */
export function scope<T>(fn: () => T): T {
  beginScope();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    endScope([]);
    throw error;
  }
  const survivors: Tensor[] = [];
  collectTensors(result, survivors, new Set());
  endScope(survivors);
  return result;
}

/** Marks a tensor to outlive the scope it was created in. */
export function keep<T extends Tensor>(tensor: T): T {
  return tensor.keep();
}
