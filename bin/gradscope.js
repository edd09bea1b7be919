#!/usr/bin/env node
// The `gradscope` command: the compiled CLI (npm ci builds dist/ through `prepare`).
import { main } from "../dist/src/cli/main.js";

// A reader that stops early (`gradscope runs | head -1`) closes the pipe: end quietly with 0, as
// the Unix tools do, instead of with an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(0);
  });
}

process.exitCode = await main(process.argv.slice(2));
