import { randomBytes } from "node:crypto";
import { hostname, networkInterfaces } from "node:os";

/** The shortest access token the dashboard accepts: a shorter one can be guessed. */
export const MIN_TOKEN_LENGTH = 16;

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const WILDCARD = new Set(["0.0.0.0", "::"]);

/** Whether binding `host` keeps the dashboard on this machine. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host);
}

/**
 * Why `token` cannot guard the dashboard, or null when it can: it must be at least
 * MIN_TOKEN_LENGTH characters, so that "" or "x" never pass for authentication.
 */
export function tokenProblem(token: string): string | null {
  return token.length < MIN_TOKEN_LENGTH ? `expected at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}` : null;
}

/**
 * The token the server checks: the one given (validated), else a random one on any non-loopback
 * interface, else none (loopback serves only this machine, and the Host check stops rebinding).
 */
export function accessToken(host: string, token: string | undefined): string | undefined {
  if (token !== undefined) {
    const problem = tokenProblem(token);
    if (problem) throw new Error(`gradscope: the dashboard's token: ${problem}`);
    return token;
  }
  return isLoopback(host) ? undefined : randomBytes(16).toString("hex");
}

// A host name as a URL spells it: lower case, IPv6 addresses in brackets.
function urlHostName(host: string): string {
  try {
    return new URL(`http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}/`).hostname;
  } catch {
    // `--host 999.1.1.1` failed with a bare "Invalid URL".
    throw new Error(`gradscope: the dashboard's host ${JSON.stringify(host)}: expected a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0`);
  }
}

/**
 * The host to print in the server's address: the bound one, but on a wildcard bind (0.0.0.0,
 * ::), which no browser elsewhere can open, this machine's host name (one the Host check
 * accepts).
 */
export function shownHost(bindHost: string): string {
  const name = WILDCARD.has(bindHost) ? urlHostName(hostname()) : bindHost;
  return name.includes(":") && !name.startsWith("[") ? `[${name}]` : name;
}

/**
 * The host names a request may address the server by: the address it is bound to, `localhost`
 * on a loopback bind, and on a wildcard bind (0.0.0.0, ::) every address of this machine and
 * its host name. A page of another site that rebinds its own name to this address names its own
 * host in `Host:`, so it is refused.
 */
export function servedHostNames(bindHost: string): Set<string> {
  const names = new Set([urlHostName(bindHost)]);
  if (isLoopback(bindHost)) for (const name of ["localhost", "127.0.0.1", "[::1]"]) names.add(name);
  if (WILDCARD.has(bindHost)) {
    names.add("localhost");
    names.add(urlHostName(hostname()));
    for (const addresses of Object.values(networkInterfaces())) for (const { address } of addresses ?? []) names.add(urlHostName(address.replace(/%.*$/, "")));
  }
  return names;
}

/** Whether a `Host:` header names one of `names` (any port). */
export function hostAllowed(header: string | undefined, names: Set<string>): boolean {
  if (!header) return false;
  try {
    const url = new URL(`http://${header}/`);
    return url.username === "" && url.pathname === "/" && names.has(url.hostname);
  } catch {
    return false;
  }
}

/** Whether an `Origin:` header is the page origin of a server addressed by `Host:` (plain HTTP). */
export function sameOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).origin === new URL(`http://${host}/`).origin;
  } catch {
    return false;
  }
}
