import { startDashboard } from "../dashboard/server.ts";
import { ExitCode } from "./exitCodes.ts";
import { openExisting } from "./runs.ts";
import { readStoreLocation } from "./storeOptions.ts";
import { untilSignal } from "./train.ts";

/** Where the dashboard listens. */
export interface ServeOptions {
  host: string;
  port: number;
  token?: string;
}

/** `gradscope ui`: serves the dashboard of every run in the store until SIGINT or SIGTERM. */
export async function uiCommand(options: ServeOptions & { store?: string }): Promise<number> {
  const location = readStoreLocation(options.store);
  // Refuses a missing store before the server starts (the server opens its own connection).
  openExisting(location).close();
  let dashboard: Awaited<ReturnType<typeof startDashboard>>;
  try {
    dashboard = await startDashboard({ store: location, host: options.host, port: options.port, token: options.token });
  } catch (error) {
    // A busy port or a file that is not a run store: the user's arguments to fix.
    process.stderr.write(`${(error as Error).message}\n`);
    return ExitCode.usage;
  }
  process.stdout.write(`gradscope dashboard: ${dashboard.url} (Ctrl-C to stop)\n`);
  await untilSignal();
  await dashboard.close();
  return ExitCode.ok;
}
