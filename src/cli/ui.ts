import { startDashboard } from "../dashboard/server.ts";
import { requireStore } from "./runs.ts";
import { ExitCode, untilSignal } from "./train.ts";

/** Where the dashboard listens. */
export interface ServeOptions {
  host: string;
  port: number;
  token?: string;
}

/** `gradscope ui`: serves the dashboard of every run in the store until SIGINT or SIGTERM. */
export async function uiCommand(options: ServeOptions & { store: string }): Promise<number> {
  requireStore(options.store);
  const dashboard = await startDashboard({ storePath: options.store, host: options.host, port: options.port, token: options.token });
  process.stdout.write(`gradscope dashboard: ${dashboard.url} (Ctrl-C to stop)\n`);
  await untilSignal();
  await dashboard.close();
  return ExitCode.ok;
}
