import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Resvg } from "@resvg/resvg-js";

/**
 * A two-panel SVG line chart: decode tokens/s against model size, and memory against model size with
 * the isolate's limit drawn in, and its PNG (resvg). Written by bench/scale.ts, without network.
 */
export interface Series {
  name: string;
  color: string;
  /** [x, y] points; NaN y values are left out. */
  points: [number, number][];
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** A logarithmic y axis (decades), for values spanning orders of magnitude. */
  logY?: boolean;
  /** Where the legend goes, away from the lines: the top left corner by default. */
  legend?: "left" | "right";
  /** Horizontal reference lines, such as the 128 MB isolate. */
  lines?: { y: number; label: string; anchor?: "start" | "end" }[];
}

const WIDTH = 460;
const HEIGHT = 400;
const MARGIN = { left: 62, right: 16, top: 34, bottom: 46 };

function niceMax(value: number): number {
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function panel(spec: Panel, offsetX: number): string {
  const points = spec.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xMax = niceMax(Math.max(...points.map(([x]) => x)));
  const yValues = [...points.map(([, y]) => y), ...(spec.lines ?? []).map((line) => line.y)];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => offsetX + MARGIN.left + (x / xMax) * plotW;
  let sy: (y: number) => number;
  let yTicks: number[];
  if (spec.logY) {
    const low = Math.floor(Math.log10(Math.min(...yValues)));
    const high = Math.ceil(Math.log10(Math.max(...yValues)));
    sy = (y: number) => MARGIN.top + plotH - ((Math.log10(y) - low) / (high - low)) * plotH;
    yTicks = Array.from({ length: high - low + 1 }, (_, i) => 10 ** (low + i));
  } else {
    const yMax = niceMax(Math.max(...yValues));
    sy = (y: number) => MARGIN.top + plotH - (y / yMax) * plotH;
    yTicks = Array.from({ length: 6 }, (_, i) => (yMax * i) / 5);
  }
  const [yBottom = 0, yTop = 0] = [yTicks[0], yTicks.at(-1)];
  const out: string[] = [];
  out.push(
    `<text x="${offsetX + WIDTH / 2}" y="18" text-anchor="middle" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  const bottom = sy(yBottom);
  for (let i = 0; i <= 5; i++) {
    const x = (xMax * i) / 5;
    out.push(`<line x1="${sx(x)}" y1="${bottom}" x2="${sx(x)}" y2="${bottom + 4}" stroke="#333"/>`);
    out.push(`<text x="${sx(x)}" y="${bottom + 16}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  for (const y of yTicks) {
    out.push(`<line x1="${sx(0)}" y1="${sy(y)}" x2="${sx(xMax)}" y2="${sy(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${sx(0) - 6}" y="${sy(y) + 4}" text-anchor="end">${Math.round(y)}</text>`);
  }
  out.push(`<line x1="${sx(0)}" y1="${bottom}" x2="${sx(xMax)}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line x1="${sx(0)}" y1="${bottom}" x2="${sx(0)}" y2="${sy(yTop)}" stroke="#333"/>`);
  out.push(
    `<text x="${sx(xMax / 2)}" y="${HEIGHT - 8}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(${offsetX + 14} ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );
  for (const line of spec.lines ?? []) {
    out.push(
      `<line x1="${sx(0)}" y1="${sy(line.y)}" x2="${sx(xMax)}" y2="${sy(line.y)}" stroke="#c00" stroke-dasharray="5 4"/>`,
      line.anchor === "start"
        ? `<text x="${sx(0) + 4}" y="${sy(line.y) + 13}" fill="#c00">${escapeXml(line.label)}</text>`
        : `<text x="${sx(xMax) - 4}" y="${sy(line.y) - 4}" text-anchor="end" fill="#c00">${escapeXml(line.label)}</text>`,
    );
  }
  spec.series.forEach((series, index) => {
    const drawn = series.points.filter(([, y]) => Number.isFinite(y));
    const path = drawn.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2"/>`);
    for (const [x, y] of drawn) {
      out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${series.color}"/>`);
    }
    const legendY = MARGIN.top + 8 + index * 15;
    const legendX = spec.legend === "right" ? sx(xMax) - 240 : sx(0) + 10;
    out.push(
      `<line x1="${legendX}" y1="${legendY}" x2="${legendX + 18}" y2="${legendY}" stroke="${series.color}" stroke-width="2"/>`,
      `<text x="${legendX + 22}" y="${legendY + 4}">${escapeXml(series.name)}</text>`,
    );
  });
  return out.join("\n");
}

export function lineChartsSvg(panels: Panel[]): string {
  const body = panels.map((spec, index) => panel(spec, index * WIDTH)).join("\n");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH * panels.length}" height="${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(panels.map((spec) => spec.title).join("; "))}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    body,
    "</svg>",
    "",
  ].join("\n");
}

/**
 * The PNG of an SVG chart. The font comes from an npm package, not the system, so the image is the
 * same on every machine that runs `npm ci` (resvg draws no text without a font).
 */
export function svgToPng(svg: string): Buffer {
  const fonts = join(dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json")), "ttf");
  const resvg = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: 2 },
    font: {
      loadSystemFonts: false,
      fontFiles: [join(fonts, "DejaVuSans.ttf"), join(fonts, "DejaVuSans-Bold.ttf")],
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
  return resvg.render().asPng();
}
