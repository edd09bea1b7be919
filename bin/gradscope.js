#!/usr/bin/env node
// The `gradscope` command: the compiled CLI (npm ci builds dist/ through `prepare`).
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
