// The command line of `npm run bench`, and which rows a --filter selects.

/** What `npm run bench -- ...` asks for. */
export interface BenchArguments {
  /** Patterns from --filter; a row runs when its name matches any (all rows when none). */
  filters: string[];
  /** One JSON object per row instead of the markdown table. */
  json: boolean;
  /** The row names, one a line, nothing measured. */
  list: boolean;
  help: boolean;
}

/** A command line the bench cannot run; the process exits with status 2. */
export class BenchArgumentError extends Error {}

export const benchUsage = `usage: npm run bench -- [--filter <pattern>]... [--json] [--list]
  --filter <pattern>  run only the rows whose name contains <pattern> (ignoring case) or matches
                      it as a regular expression; repeat it for several
  --json              print one JSON object per row: {name, value, unit, ratio, ratioOf, note, cpu, threads, kernels}
  --list              print the row names and measure nothing`;

/** Parses the arguments after `npm run bench --`. */
export function parseBenchArguments(argv: readonly string[]): BenchArguments {
  const parsed: BenchArguments = { filters: [], json: false, list: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === "--json") parsed.json = true;
    else if (argument === "--list") parsed.list = true;
    else if (argument === "--help" || argument === "-h") parsed.help = true;
    else if (argument === "--filter" || argument.startsWith("--filter=")) {
      const pattern = argument === "--filter" ? argv[++i] : argument.slice("--filter=".length);
      if (pattern === undefined || pattern === "") throw new BenchArgumentError(`--filter needs a pattern (a part of a row's name or a regular expression)`);
      parsed.filters.push(pattern);
    } else {
      throw new BenchArgumentError(`unknown argument ${JSON.stringify(argument)}; expected --filter <pattern>, --json, --list or --help`);
    }
  }
  return parsed;
}

/**
 * Whether a row named `name` is selected by `filters`: no filters select every row; a filter
 * selects the names that contain it (ignoring case) and, when it is a valid regular expression,
 * the names it matches (ignoring case). So "GEMM 1024^3" works as plain text and "^GEMM" as a
 * pattern.
 */
export function selectsRow(filters: readonly string[], name: string): boolean {
  if (filters.length === 0) return true;
  const lower = name.toLowerCase();
  return filters.some((filter) => lower.includes(filter.toLowerCase()) || patternOf(filter)?.test(name) === true);
}

function patternOf(filter: string): RegExp | null {
  try {
    return new RegExp(filter, "i");
  } catch {
    return null;
  }
}
