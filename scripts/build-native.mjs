// Builds the optional native BLAS backend (native/: a Node addon linking the system's OpenBLAS)
// with node-gyp, which npm bundles. It is the package's `install` script, so it never fails an
// install: without a C compiler, OpenBLAS or node-gyp it prints one line and exits 0, and the
// engine runs on WASM. `--strict` (npm run build:native) shows node-gyp's output and fails loudly.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const strict = process.argv.includes("--strict");

function nodeGypScript() {
  // npm sets npm_config_node_gyp to its bundled copy in every lifecycle script.
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js")];
  return candidates.find((path) => path && existsSync(path));
}

function giveUp(reason) {
  process.stdout.write(`gradscope: native BLAS backend not built (${reason}); the engine runs on WASM\n`);
  process.exit(strict ? 1 : 0);
}

const nodeGyp = nodeGypScript();
if (!nodeGyp) giveUp("node-gyp not found");
// Node's own headers, where the installation ships them, spare node-gyp a download (installs
// have no network but the npm registry).
const prefix = join(dirname(process.execPath), "..");
const nodedir = existsSync(join(prefix, "include", "node", "node_api.h")) ? [`--nodedir=${prefix}`] : [];
const result = spawnSync(process.execPath, [nodeGyp, "rebuild", `--directory=${join(root, "native")}`, ...nodedir], {
  cwd: root,
  encoding: "utf8",
  stdio: strict ? "inherit" : "pipe",
  timeout: 5 * 60 * 1000,
});
if (result.status !== 0) {
  const output = `${result.stderr ?? ""}\n${result.stdout ?? ""}`;
  // The line that says what is missing: a compiler's or linker's error, or node-gyp's own.
  const lines = output.split("\n").map((line) => line.replace(/^gyp ERR! (find Python )?/, "").trim());
  const cause = lines.find((line) => /fatal error|error:|cannot find|You need to install|Error: |not found/i.test(line));
  giveUp(cause ?? result.error?.message ?? `node-gyp exited with ${result.status}`);
}
process.stdout.write("gradscope: built the native BLAS backend (native/build/Release/gradscope_blas.node)\n");
