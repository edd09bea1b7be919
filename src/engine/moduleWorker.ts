import { extname } from "node:path";
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread running the module `name` beside `caller` (an `import.meta.url`): its
 * `.js` in the built package. Run from source through tsx (the tests), the module is TypeScript,
 * and a worker thread does not inherit the `--import tsx` loader: it registers tsx itself before
 * importing the module.
 */
export function startModuleWorker(caller: string, name: string, options: WorkerOptions = {}): Worker {
  if (extname(new URL(caller).pathname) !== ".ts") return new Worker(new URL(`./${name}.js`, caller), options);
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL(`./${name}.ts`, caller).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { ...options, eval: true });
}
