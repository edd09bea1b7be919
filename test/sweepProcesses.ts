// What the tests of sweeps on PostgreSQL share: the PostgreSQL backend (skipped with its reason
// where the binaries are absent), the CLI and `gradscope worker` in processes of their own (the
// test runner reports on this process's stdout), and waiting for a condition.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSweepStore, type SweepStore } from "../src/store/sweeps.ts";
import { storeBackends } from "./storeBackends.ts";

const found = storeBackends.find((backend) => backend.name === "PostgreSQL");
if (!found) throw new Error("no PostgreSQL backend");
/** The PostgreSQL store backend of the store tests. */
export const postgres = found;

const root = fileURLToPath(new URL("..", import.meta.url));
/** The compiled CLI, and the spirals example the sweeps start from. */
export const bin = join(root, "bin", "gradscope.js");
export const spirals = join(root, "examples", "spirals.yaml");

/** This process's children, from /proc (field 4 of a process's stat is its parent's pid). */
export const children = () =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/stat`, "utf8")
            .replace(/^.*\) /s, "")
            .split(" ")[1] === String(process.pid)
        );
      } catch {
        return false; // gone meanwhile
      }
    });

/** This process's children that are trial hosts (src/sweep/trialHostEntry). */
export const trialHosts = () =>
  children().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("trialHostEntry");
    } catch {
      return false; // gone meanwhile
    }
  });

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves to `find()`'s first value other than undefined, polled every 50 ms. */
export async function until<T>(what: string, find: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = find();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The CLI in a process of its own. */
export function cli(args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env, timeout: 300_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A `gradscope worker` process of its own (as on another machine), its output kept. */
export function startWorker(url: string, runsDir: string, env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, "worker", "--store", url, "--runs-dir", runsDir, "--threads", "1", "--idle-exit", "3"], { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  return { child, output: () => output, exited: new Promise((resolve) => child.on("close", (code) => resolve(code))) };
}

/** The sweep store at `url`, once a coordinator has created it. */
export const storeOnceCreated = (url: string): Promise<SweepStore> =>
  until("the sweep's store", () => {
    try {
      return openSweepStore(url, { create: false });
    } catch {
      return undefined;
    }
  });
