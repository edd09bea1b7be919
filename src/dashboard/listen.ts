import type { Server } from "node:net";
import { createServer } from "node:net";

/** The interface a dashboard binds unless told otherwise: loopback only. */
export const DEFAULT_DASHBOARD_HOST = "127.0.0.1";

/**
 * Binds `server` to `port` on `host`; a port that cannot be bound is an error naming the port and
 * the host (and, when it is in use, to pass another).
 */
export async function listenOn(server: Server, port: number, host: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        // A later error of the bound server is its owner's, not this promise's, which has settled.
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "EADDRINUSE" ? "is in use (pass --port)" : `cannot be bound: ${(error as Error).message}`;
    throw new Error(`gradscope: the dashboard's port ${port} on ${host} ${reason}`);
  }
}

/** Throws listenOn's error when `port` (not 0: any port is free) cannot be bound on `host` now. */
export async function checkPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await listenOn(probe, port, host);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
