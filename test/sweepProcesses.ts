// What the tests of sweeps on PostgreSQL share: the PostgreSQL backend (skipped with its reason
// where the binaries are absent), the CLI and `gradscope worker` in processes of their own (the
// test runner reports on this process's stdout), and waiting for a condition.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
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

// A preload for trial hosts that stands for a native library with a thread of its own: it echoes
// the first and the last line each trial writes to its log ("note: trial …", "test: …") as raw
// output on the process's stderr (not through its streams) at the next turn of the event loop,
// as a library's thread would while its trial ends. (Training holds the event loop: both echoes
// come as the trial ends.)
const nativeEcho = `
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
const writeSync = fs.writeSync;
fs.writeSync = function (fd, data, ...rest) {
  const written = writeSync.call(this, fd, data, ...rest);
  const text = typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1");
  if (fd > 2 && /^(note: trial|test: )/.test(text)) setImmediate(() => writeSync(2, "native echo: " + text));
  return written;
};
syncBuiltinESMExports();
`;

/**
 * Makes the trial hosts started from now on echo their trials' first and last lines as native
 * output would (the preload above, written to `folder`, in NODE_OPTIONS); returns the function
 * that stops it.
 */
export function echoNativeOutput(folder: string): () => void {
  const preload = join(folder, "nativeEcho.mjs");
  writeFileSync(preload, nativeEcho);
  const nodeOptions = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${nodeOptions ?? ""} --import=${pathToFileURL(preload).href}`;
  return () => {
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = nodeOptions;
  };
}

/** Asserts that a trial's log has the native echoes (echoNativeOutput) of its own first and last lines, and no other trial's. */
export function assertOwnEchoes(logFile: string): void {
  const lines = readFileSync(logFile, "utf8").split("\n");
  const echoes = lines.filter((line) => line.startsWith("native echo: ")).map((line) => line.replace("native echo: ", ""));
  const own = lines.filter((line) => /^(note: trial|test: )/.test(line));
  assert.equal(own.length, 2, `${logFile}:\n${lines.join("\n")}`);
  assert.deepEqual(echoes.sort(), own.sort(), `${logFile}:\n${lines.join("\n")}`);
}
