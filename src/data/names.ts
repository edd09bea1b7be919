import { closestName } from "../nn/spec.ts";

/** Checks a name against a list, with a "did you mean" in the error. */
export function checkName(kind: string, name: string, known: readonly string[]): void {
  if (known.includes(name)) return;
  const hint = closestName(name, known);
  throw new Error(`gradscope: unknown ${kind} "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${known.join(", ")}`);
}
