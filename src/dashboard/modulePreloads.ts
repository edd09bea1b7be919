// The page's ES modules, listed in the page itself: a browser that is given only the entry modules
// finds the rest one level of imports at a time (main.js, then cockpit.js, then each instrument,
// then lineChart.js, then uPlot: seven round trips before the first line of the page's code runs).
// Listing every module the entries import, directly or not, as <link rel="modulepreload"> lets it
// fetch them all at once, while it parses the page. The list is read from the served files
// themselves, so a new module needs no edit here or in index.html.
import { readFileSync } from "node:fs";
import { resolveAsset } from "./assets.ts";

// The specifier of each static `import … from "x"`, `import "x"` and `export … from "x"` that
// tsc emits (a statement of its own at the start of a line); dynamic import() is not followed.
const STATIC_IMPORT = /^\s*(?:import|export)\s*(?:[\w*{}\s,$]*?\s*from\s*)?["']([^"']+)["']/gm;

// The module scripts and the import map of an HTML page.
const MODULE_SCRIPT = /<script\s+type="module"\s+src="([^"]+)"\s*><\/script>/g;
const IMPORT_MAP = /<script\s+type="importmap">([\s\S]*?)<\/script>/;

/** The URL paths a module's static imports name, resolved against its own path (bare names through `imports`). */
export function importedPaths(source: string, modulePath: string, imports: Record<string, string>): string[] {
  const base = new URL(modulePath, "http://page.invalid");
  return [...source.matchAll(STATIC_IMPORT)].map(([, specifier]) => {
    const mapped = imports[specifier] ?? specifier;
    return new URL(mapped, base).pathname;
  });
}

/**
 * Every module the page's module scripts import, directly or not, that the server serves: their
 * URL paths in the order first found (breadth first from the entries), the entries excluded.
 */
export function moduleGraph(html: string, roots: Record<string, string>): string[] {
  const imports = (JSON.parse(IMPORT_MAP.exec(html)?.[1] ?? "{}").imports ?? {}) as Record<string, string>;
  const entries = [...html.matchAll(MODULE_SCRIPT)].map(([, src]) => new URL(src, "http://page.invalid").pathname);
  const seen = new Set(entries);
  const queue = [...entries];
  const found: string[] = [];
  while (queue.length > 0) {
    const path = queue.shift() as string;
    const asset = resolveAsset(roots, path);
    if (!asset) continue;
    for (const imported of importedPaths(readFileSync(asset.file, "utf8"), path, imports)) {
      if (seen.has(imported) || !resolveAsset(roots, imported)) continue;
      seen.add(imported);
      found.push(imported);
      queue.push(imported);
    }
  }
  return found;
}

/**
 * The page with a `<link rel="modulepreload">` for every module of `moduleGraph`, placed after its
 * last module script, so that the entries (boot.js, which starts the page's first requests) are
 * asked for first.
 */
export function withModulePreloads(html: string, roots: Record<string, string>): string {
  const links = moduleGraph(html, roots).map((path) => `\n  <link rel="modulepreload" href="${path}">`);
  const scripts = [...html.matchAll(MODULE_SCRIPT)];
  const last = scripts[scripts.length - 1];
  if (links.length === 0 || last?.index === undefined) return html;
  const end = last.index + last[0].length;
  return `${html.slice(0, end)}${links.join("")}${html.slice(end)}`;
}
