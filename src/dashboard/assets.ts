import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, resolve, sep } from "node:path";
import { packageFile } from "../engine/packageFiles.ts";

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/**
 * What the dashboard serves, by URL: folders by prefix (ending in `/`): the page and its styles,
 * the page's compiled modules (tsc puts them in dist/), uPlot from its npm package; and single
 * files by path: the series keys the page shares with the store (src/store/seriesKeys.ts, which
 * the page imports as `../../store/seriesKeys.js`), and nothing else of the store's modules.
 */
export function assetRoots(): Record<string, string> {
  const uplot = dirname(createRequire(import.meta.url).resolve("uplot"));
  return {
    "/static/": packageFile(import.meta.url, 1, "src/dashboard/static"),
    "/ui/": packageFile(import.meta.url, 1, "dist/src/dashboard/ui"),
    "/vendor/": uplot,
    "/store/seriesKeys.js": packageFile(import.meta.url, 1, "dist/src/store/seriesKeys.js"),
  };
}

// The file a URL path names under a folder root, or null when it would leave the root.
function fileUnder(root: string, relativeUrl: string): string | null {
  let relative: string;
  try {
    relative = decodeURIComponent(relativeUrl);
  } catch {
    return null;
  }
  if (relative.includes("\0") || relative.split(/[/\\]/).includes("..")) return null;
  const file = resolve(root, relative);
  return file.startsWith(resolve(root) + sep) ? file : null;
}

/**
 * The file a URL path names (inside one of the folder `roots`, or a single-file root named by
 * its exact path), with its content type and entity tag, or null: for unknown paths and
 * extensions, malformed escapes, and anything that would leave its root (`..`, encoded or not),
 * so that no request reads a file outside the assets.
 */
export function resolveAsset(roots: Record<string, string>, urlPath: string): { file: string; type: string; etag: string } | null {
  const prefix = Object.keys(roots).find((p) => (p.endsWith("/") ? urlPath.startsWith(p) : urlPath === p));
  if (!prefix) return null;
  const file = prefix.endsWith("/") ? fileUnder(roots[prefix], urlPath.slice(prefix.length)) : resolve(roots[prefix]);
  const type = file && contentTypes[extname(file)];
  if (!file || !type) return null;
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile()) return null;
  // A rebuilt file changes its size or modification time, and with it its tag.
  return { file, type, etag: `"${stat.size.toString(36)}-${Math.trunc(stat.mtimeMs).toString(36)}"` };
}

/** Whether an If-None-Match header (a list of tags, weak or strong, or `*`) matches `etag`. */
export function tagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  return (ifNoneMatch ?? "").split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}
