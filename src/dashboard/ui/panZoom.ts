// Panning and wheel zoom of a chart's x-axis: shift-drag moves the step range, ctrl- or ⌘-wheel
// zooms around the cursor (a plain wheel still scrolls the page). The range shows at once on
// every linked chart; the server is asked for its data once the gesture ends.
import type uPlot from "uplot";

/** How long the wheel must rest before the zoomed range is committed. */
const WHEEL_SETTLE_MS = 250;
/** The range's growth per wheel notch (its inverse zooms in). */
const ZOOM_FACTOR = 1.25;
/** The narrowest range a wheel zoom goes to, in steps. */
const MIN_STEPS = 4;

/**
 * Adds the gestures to `u`: `preview` shows a range while a gesture runs, `commit` takes the
 * range it ended at.
 */
export function attachPanZoom(u: uPlot, preview: (range: [number, number]) => void, commit: (range: [number, number]) => void): void {
  const current = (): [number, number] => [u.scales.x.min ?? 0, u.scales.x.max ?? 0];
  // A wheel zoom waiting to be committed; a pan starting meanwhile commits its own range instead.
  let settle = 0;
  // Capturing on the root runs before uPlot's own mousedown on its overlay, which would start a
  // zoom selection.
  u.root.addEventListener(
    "mousedown",
    (event) => {
      if (!event.shiftKey || event.button !== 0 || !u.over.contains(event.target as Node)) return;
      event.stopPropagation();
      event.preventDefault();
      window.clearTimeout(settle);
      const [min, max] = current();
      const stepsPerPixel = (max - min) / Math.max(1, u.over.clientWidth);
      const start = event.clientX;
      let range: [number, number] = [min, max];
      const move = (e: MouseEvent) => {
        const shift = (e.clientX - start) * stepsPerPixel;
        range = [min - shift, max - shift];
        preview(range);
      };
      const up = () => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        commit(range);
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    },
    { capture: true },
  );
  u.over.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      const [min, max] = current();
      const at = u.posToVal(event.offsetX, "x");
      const factor = event.deltaY < 0 ? 1 / ZOOM_FACTOR : ZOOM_FACTOR;
      if (factor < 1 && max - min <= MIN_STEPS) return;
      const range: [number, number] = [at - (at - min) * factor, at + (max - at) * factor];
      preview(range);
      window.clearTimeout(settle);
      settle = window.setTimeout(() => commit(range), WHEEL_SETTLE_MS);
    },
    { passive: false },
  );
}
