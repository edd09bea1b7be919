// A dashboard panel: a titled box with per-panel actions (PNG, CSV, toggles).
import { download, slug } from "./format.ts";

/** A panel in the page. */
export interface Panel {
  element: HTMLElement;
  body: HTMLElement;
  /** Adds a small button to the panel's title bar. */
  button(label: string, title: string, onClick: (button: HTMLButtonElement) => void): HTMLButtonElement;
}

/**
 * Creates a panel in `parent`, marked `data-panel=id` (the browser tests find panels by it),
 * with PNG (when the panel draws one) and CSV downloads of whatever `exports` returns at click time.
 */
export function createPanel(parent: HTMLElement, id: string, title: string, exports: { png?: () => HTMLCanvasElement | null; csv: () => string }): Panel {
  const element = document.createElement("div");
  element.className = "panel";
  element.dataset.panel = id;
  const head = document.createElement("div");
  head.className = "panel-head";
  const heading = document.createElement("h3");
  heading.textContent = title;
  head.append(heading);
  const body = document.createElement("div");
  element.append(head, body);
  parent.append(element);
  const button = (label: string, hint: string, onClick: (b: HTMLButtonElement) => void) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = hint;
    b.addEventListener("click", () => onClick(b));
    head.append(b);
    return b;
  };
  const png = exports.png;
  if (png) {
    button("PNG", "download this panel as a PNG image", () => {
      png()?.toBlob((blob) => blob && download(`${slug(title)}.png`, blob));
    });
  }
  button("CSV", "download this panel's data as CSV", () => download(`${slug(title)}.csv`, exports.csv()));
  return { element, body, button };
}
