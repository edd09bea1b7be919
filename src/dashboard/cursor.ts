// Cursors travel as SSE event ids (and `?after=`): four row ids joined by dots.
import type { Cursor } from "../store/runReader.ts";

/** A cursor as an SSE event id. */
export function formatCursor(cursor: Cursor): string {
  return `${cursor.scalars}.${cursor.lists}.${cursor.histograms}.${cursor.events}`;
}

/** Parses a cursor (null when the text is not one). */
export function parseCursor(text: string | null | undefined): Cursor | null {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text ?? "");
  if (!match) return null;
  return { scalars: Number(match[1]), lists: Number(match[2]), histograms: Number(match[3]), events: Number(match[4]) };
}

/** Whether two cursors point at the same rows. */
export function sameCursor(a: Cursor, b: Cursor): boolean {
  return a.scalars === b.scalars && a.lists === b.lists && a.histograms === b.histograms && a.events === b.events;
}
