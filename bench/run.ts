// `npm run bench [-- --filter <pattern>] [--json] [--list]`: the rows of bench/groups/, each
// printed as soon as it is measured (a run cut short keeps what it measured). Figures only;
// nothing is asserted. How each row is measured: docs/benchmarks.md.
import { cpus } from "node:os";
import { BenchArgumentError, type BenchArguments, benchUsage, parseBenchArguments, selectsRow } from "./arguments.ts";
import { jsonRow, tableHeader, tableLine } from "./report.ts";

function parsed(): BenchArguments {
  try {
    return parseBenchArguments(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof BenchArgumentError)) throw error;
    console.error(`gradscope bench: ${error.message}\n${benchUsage}`);
    process.exit(2);
  }
}

const { filters, json, list, help } = parsed();
if (help) {
  console.log(benchUsage);
  process.exit(0);
}
// Only now the engine, tfjs, Playwright and the rest: a mistyped flag is answered at once.
const { engineMemory } = await import("../src/engine/memory.ts");
const { setThreads } = await import("../src/engine/threads/settings.ts");
const { setBackend } = await import("../src/engine/backend.ts");
const { groups } = await import("./groups/index.ts");
const { allThreads } = await import("./threadCount.ts");

// The rows each group runs, and the groups without rows of their own (the native hook) that a
// run without filters, or a filter naming them, reaches to say they are skipped.
const selection = groups
  .map((group) => ({ group, rows: group.rows.filter((row) => selectsRow(filters, row.name)) }))
  .filter(({ group, rows }) => rows.length > 0 || (group.rows.length === 0 && selectsRow(filters, group.name)));
if (selection.length === 0) {
  const names = groups.flatMap((group) => group.rows.map((row) => `  ${row.name}`));
  console.error(`gradscope bench: --filter ${filters.map((f) => JSON.stringify(f)).join(", --filter ")} matches no row; the rows are:\n${names.join("\n")}`);
  process.exit(2);
}
if (list) {
  for (const { rows } of selection) for (const row of rows) console.log(row.name);
  process.exit(0);
}

const host = { cpu: cpus()[0]?.model ?? "unknown CPU", kernels: engineMemory.flavor };
if (!json) {
  console.log(
    `gradscope bench: ${host.cpu}, ${cpus().length} cores, Node ${process.version}, kernels ${host.kernels}; "all threads" is ${allThreads}; WASM unless a row says native`,
  );
  console.log(tableHeader);
}
for (const { group, rows } of selection) {
  const unavailable = group.unavailable?.() ?? null;
  if (unavailable !== null) {
    // On stderr, so that the table and the JSON lines stay whole.
    console.error(`gradscope bench: ${group.name}: skipped, ${unavailable}`);
    continue;
  }
  for (const row of rows) {
    // Every row measures the WASM engine but the native group's, which switches for itself.
    setBackend("wasm");
    setThreads(row.threads);
    try {
      const measured = await row.measure();
      console.log(json ? JSON.stringify(jsonRow(row.name, row.threads, measured, host)) : tableLine(row.name, row.threads, measured));
    } catch (error) {
      console.error(`gradscope bench: ${row.name}: failed: ${(error as Error).stack ?? error}`);
      process.exitCode = 1;
    }
  }
}
