// A throwaway PostgreSQL cluster for the store's tests: initdb into a temporary folder, started on
// a free loopback port (and a socket in that folder), stopped and removed after. initdb refuses
// to run as root, so as root the cluster runs as the `postgres` user. Where the binaries are
// absent, `startPostgres` says why, and the PostgreSQL cases are skipped with that reason (CI
// installs Debian's postgresql package, see .ci/run).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = process.env.GRADSCOPE_POSTGRES_BIN ?? "/usr/lib/postgresql/15/bin";

/** A running cluster: `postgres` logs in without a password; `PASSWORD_USER` needs `PASSWORD`. */
export interface PostgresCluster {
  port: number;
  /** A fresh, empty database's URL (as the `postgres` superuser). */
  createDatabase(name: string): string;
  /** Runs SQL with psql in a database and returns its unaligned, tuples-only output. */
  psql(database: string, sql: string): string;
  /** Restarts the server as an administrator would (`pg_ctl restart -m fast`): every connection is terminated. */
  restart(): void;
  /** Shuts the server down (`pg_ctl stop -m fast`), keeping its data, until `start`: connections are refused meanwhile. */
  shutDown(): void;
  /** Starts the server again after `shutDown`. */
  start(): void;
  /**
   * Drops the cluster's files from the operating system's page cache (`dd iflag=nocache`), so that
   * after a restart its reads come from the disk: what a machine whose memory went to other work
   * has. Whether it could (it needs to read the files: as root, or as the user that owns them).
   */
  evictFromPageCache(): boolean;
  stop(): void;
}

/** A role of the cluster that logs in with a password (scram-sha-256 over TCP). */
export const PASSWORD_USER = "gradscope_tester";
export const PASSWORD = "s3cret-pw";

const asRoot = process.getuid?.() === 0;

function run(command: string, args: string[]): string {
  const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", join(BIN, command), ...args]] : [join(BIN, command), args];
  const result = spawnSync(file, argv, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr || result.stdout}`);
  return result.stdout;
}

function freePort(): number {
  const script = "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})";
  return Number(spawnSync(process.execPath, ["-e", script], { encoding: "utf8" }).stdout.trim());
}

/** Starts a cluster, or returns the reason it cannot (binaries missing). */
export function startPostgres(): PostgresCluster | { skip: string } {
  if (!existsSync(join(BIN, "initdb")) || !existsSync(join(BIN, "pg_ctl")))
    return { skip: `PostgreSQL binaries not found in ${BIN} (apt-get install postgresql, or set GRADSCOPE_POSTGRES_BIN)` };
  const folder = mkdtempSync(join(tmpdir(), "gradscope-postgres-"));
  chmodSync(folder, 0o700);
  if (asRoot) spawnSync("chown", ["postgres:postgres", folder]);
  const data = join(folder, "data");
  const port = freePort();
  run("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  // The password role authenticates over TCP; the superuser (the tests' own connections) does not.
  writeFileSync(join(data, "pg_hba.conf"), ["local all all trust", "host all postgres 127.0.0.1/32 trust", "host all all 127.0.0.1/32 scram-sha-256", ""].join("\n"));
  if (asRoot) spawnSync("chown", ["postgres:postgres", join(data, "pg_hba.conf")]);
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${folder} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  run("pg_ctl", ["-D", data, "-o", options, "-l", join(folder, "log"), "-w", "start"]);
  const psql = (database: string, sql: string) => run("psql", ["-h", folder, "-p", String(port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql]);
  psql("postgres", `CREATE ROLE ${PASSWORD_USER} LOGIN PASSWORD '${PASSWORD}'`);
  let stopped = false;
  return {
    port,
    psql,
    createDatabase(name) {
      psql("postgres", `CREATE DATABASE "${name}"`);
      psql(name, `GRANT ALL ON SCHEMA public TO ${PASSWORD_USER}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    restart() {
      run("pg_ctl", ["-D", data, "-o", options, "-l", join(folder, "log"), "-m", "fast", "-w", "restart"]);
    },
    shutDown() {
      run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
    },
    start() {
      run("pg_ctl", ["-D", data, "-o", options, "-l", join(folder, "log"), "-w", "start"]);
    },
    evictFromPageCache() {
      // With count=0, dd's nocache flag asks the kernel to drop the whole file's cached pages.
      const dd = ["-exec", "dd", "if={}", "iflag=nocache", "count=0", "status=none", ";"];
      return spawnSync("find", [join(data, "base"), join(data, "global"), "-type", "f", ...dd]).status === 0;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      run("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
