// A store URL in messages: its password hidden, and what is wrong with it when it does not parse.

// `scheme://user:password@` at the start of a URL, for one that `URL` cannot parse.
const CREDENTIALS = /^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i;

/** A URL with its password replaced by `***`, for messages (also in one that does not parse). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return url.replace(CREDENTIALS, "$1:***@");
  }
}

/**
 * What is wrong with a postgres:// URL, naming the part (the port, most often), or null when it
 * parses. Said before connecting: the driver's own answer is a bare "Invalid URL".
 */
export function postgresUrlProblem(url: string): string | null {
  try {
    new URL(url);
    return null;
  } catch {
    const port = /^[^/]*\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*):([^/?#]*)/.exec(url)?.[1];
    if (port !== undefined && !/^\d{1,5}$/.test(port)) return `its port "${port}" is not a number; expected postgres://user@host:port/database`;
    return "it is not a valid URL; expected postgres://user@host:port/database";
  }
}
