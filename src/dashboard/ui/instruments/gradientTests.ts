// Cockpit's gradient tests: the gauge of the latest norm, inner-product and orthogonality tests,
// and the tests over steps.

import { seriesKey } from "../../../store/seriesKeys.ts";
import type { Changes } from "../../api.ts";
import { line, surface } from "../canvas.ts";
import { formatNumber, themeColor, toCsv } from "../format.ts";
import { fixed } from "./chartBoard.ts";
import { type Canvas, canvasPanel, type Instrument, type Keys, type Places, type Shown } from "./instrument.ts";
import { LineChartsInstrument } from "./lineCharts.ts";

const [NORM, INNER, ORTHO] = ["NormTest", "InnerTest", "OrthoTest"].map((name) => seriesKey.quantity(name));
const TESTS = [NORM, INNER, ORTHO];

/** Matplotlib's symlog with linear threshold 0.1: linear within ±0.1, logarithmic beyond. */
function symlog(v: number): number {
  const t = 0.1;
  const a = Math.abs(v);
  return Math.sign(v) * (a <= t ? a / t : 1 + Math.log10(a / t));
}

/**
 * The gradient-tests gauge as Cockpit draws it: on symlog axes around the origin, the norm test
 * as a disc of radius NormTest, the inner-product test as a horizontal band of half-width
 * InnerTest, and the orthogonality test as a vertical band of half-width OrthoTest. The tests
 * pass while the bands and the disc stay within the unit (θ = 1) marks.
 */
function drawGradientTests(canvas: HTMLCanvasElement, latest: { norm?: number | null; inner?: number | null; ortho?: number | null; step?: number }): void {
  const { ctx, width, height } = surface(canvas, 220);
  const size = Math.min(width - 20, height - 30);
  const cx = width / 2;
  const cy = (height - 20) / 2 + 14;
  const extent = symlog(2);
  const px = (v: number) => cx + (symlog(v) / extent) * (size / 2);
  const py = (v: number) => cy - (symlog(v) / extent) * (size / 2);
  ctx.strokeStyle = themeColor("--grid");
  ctx.setLineDash([3, 3]);
  for (const v of [-1, -0.1, 0.1, 1]) {
    line(ctx, px(v), py(-2), px(v), py(2));
    line(ctx, px(-2), py(v), px(2), py(v));
  }
  ctx.setLineDash([]);
  ctx.strokeRect(px(-2), py(2), px(2) - px(-2), py(-2) - py(2));
  const band = (color: string, x0: number, y0: number, x1: number, y1: number) => {
    ctx.fillStyle = color;
    ctx.globalAlpha = 0.45;
    ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = color;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  };
  const clip = (v: number) => Math.min(2, Math.abs(v));
  if (latest.inner != null) band(themeColor("--secondary"), px(-2), py(clip(latest.inner)), px(2), py(-clip(latest.inner)));
  if (latest.ortho != null) band(themeColor("--tertiary"), px(-clip(latest.ortho)), py(2), px(clip(latest.ortho)), py(-2));
  if (latest.norm != null) {
    const r = clip(latest.norm);
    ctx.beginPath();
    for (let i = 0; i <= 96; i++) {
      const angle = (2 * Math.PI * i) / 96;
      const [vx, vy] = [r * Math.cos(angle), r * Math.sin(angle)];
      if (i === 0) ctx.moveTo(px(vx), py(vy));
      else ctx.lineTo(px(vx), py(vy));
    }
    ctx.fillStyle = themeColor("--primary");
    ctx.globalAlpha = 0.5;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = themeColor("--primary");
    ctx.stroke();
  }
  ctx.strokeStyle = themeColor("--text");
  ctx.lineWidth = 3;
  line(ctx, cx - 9, cy, cx + 9, cy);
  line(ctx, cx, cy - 9, cx, cy + 9);
  ctx.lineWidth = 1;
  ctx.textAlign = "left";
  const legend: Array<[string, string, number | null | undefined]> = [
    ["norm", "--primary", latest.norm],
    ["inner", "--secondary", latest.inner],
    ["ortho", "--tertiary", latest.ortho],
  ];
  legend.forEach(([name, color, value], i) => {
    ctx.fillStyle = themeColor(color);
    ctx.fillText(`${name} ${formatNumber(value)}`, 6 + i * 95, 12);
  });
  if (latest.step !== undefined) {
    ctx.fillStyle = themeColor("--muted");
    ctx.textAlign = "right";
    ctx.fillText(`step ${latest.step}`, width - 6, 12);
  }
}

/** The gauge (drawn from the primary run's latest values) and the tests over steps. */
class GradientTests implements Instrument {
  private gauge?: Canvas;
  private readonly history: LineChartsInstrument;

  constructor(private readonly shown: Shown) {
    this.history = new LineChartsInstrument(shown, [
      {
        id: "gradient-tests-history",
        title: "Gradient tests over steps",
        place: "gradients",
        log: true,
        lines: fixed([
          { key: NORM, label: "norm" },
          { key: INNER, label: "inner" },
          { key: ORTHO, label: "ortho" },
        ]),
      },
    ]);
  }

  claims(keys: Keys): string[] {
    return this.history.claims(keys);
  }

  mount(places: Places): void {
    const charts = this.shown.charts;
    if (TESTS.some((key) => this.shown.primaryKeys.scalars.includes(key))) {
      const c = canvasPanel(places.gradients, "gradient-tests", "Gradient tests", () => {
        const series = TESTS.map((key) => charts.series(key));
        return toCsv(["step", "norm", "inner", "ortho"], [series[0]?.steps ?? [], ...series.map((s) => s?.last ?? [])]);
      });
      c.draw = () => {
        const [norm, inner, ortho] = TESTS.map((key) => charts.latest(key));
        drawGradientTests(c.canvas, { norm: norm.value, inner: inner.value, ortho: ortho.value, step: norm.step ?? inner.step ?? ortho.step });
      };
      this.gauge = c;
    }
    this.history.mount(places);
  }

  // The gauge draws the series the history chart loads.
  load(): Promise<void> {
    return this.history.load();
  }

  // The chart board has extended the series already: one redraw per batch of rows.
  apply(changes: Changes): void {
    if (changes.scalars.some(([run]) => run === this.shown.primary.id)) this.gauge?.draw();
  }

  redraw(): void {
    this.gauge?.draw();
  }

  unmount(): void {
    this.gauge?.panel.element.remove();
    this.history.unmount();
  }
}

/** The gradient tests (keys: the NormTest, InnerTest and OrthoTest quantities). */
export const gradientTests = (shown: Shown): Instrument => new GradientTests(shown);
