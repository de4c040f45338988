import { escapeHtml, formatDuration } from './format.js';

/**
 * A small SVG chart of durations over time, drawn by the report function itself (the page loads
 * nothing from outside): a step line (the RPO's per-period Maximum) or points joined by a line
 * (RTO measurements), a dashed target line, time and duration axes. All text is escaped.
 */
export interface ChartPoint {
  at: number; // epoch ms
  seconds: number;
  /** Drawn hollow and red (a failed restore test or drill). */
  failed?: boolean;
}

export interface ChartSpec {
  title: string;
  /** step: each point holds until the next period; points: markers joined by a line. */
  style: 'step' | 'points';
  points: readonly ChartPoint[];
  /** For step charts: a gap longer than this (no datapoint) breaks the line. */
  periodMs?: number;
  from: number;
  to: number;
  targetSeconds: number;
  width?: number;
  height?: number;
}

const PAD = { left: 64, right: 12, top: 22, bottom: 28 };
const n = (v: number) => (Math.round(v * 10) / 10).toString();

/** Duration ticks at whole minutes, hours or days, about four of them. */
function niceStep(max: number): number {
  const steps = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400, 30 * 86_400];
  return steps.find((s) => max / s <= 5) ?? Math.ceil(max / 5);
}

export function renderChart(spec: ChartSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 180;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const points = [...spec.points].filter((p) => p.at >= spec.from && p.at <= spec.to).sort((a, b) => a.at - b.at);
  const top = Math.max(spec.targetSeconds, ...points.map((p) => p.seconds)) * 1.15 || 1;
  const span = Math.max(1, spec.to - spec.from);
  const x = (at: number) => PAD.left + ((at - spec.from) / span) * plotW;
  const y = (seconds: number) => PAD.top + plotH - (Math.min(seconds, top) / top) * plotH;

  const parts: string[] = [];
  parts.push(`<title>${escapeHtml(spec.title)}</title>`);
  parts.push(`<text class="chart-title" x="${PAD.left}" y="14">${escapeHtml(spec.title)}</text>`);
  // Axes, duration ticks and grid.
  const step = niceStep(top);
  for (let v = 0; v <= top; v += step) {
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${width - PAD.right}" y1="${n(y(v))}" y2="${n(y(v))}"/>`);
    parts.push(`<text class="tick" x="${PAD.left - 6}" y="${n(y(v) + 4)}" text-anchor="end">${escapeHtml(formatDuration(v))}</text>`);
  }
  const days = span / 86_400_000;
  const dayStep = days > 60 ? 15 : days > 20 ? 7 : days > 6 ? 2 : 1;
  for (let d = 0; d <= days; d += dayStep) {
    const at = spec.to - d * 86_400_000;
    const label = new Date(at).toISOString().slice(5, 10);
    parts.push(`<text class="tick" x="${n(x(at))}" y="${height - 8}" text-anchor="middle">${escapeHtml(label)}</text>`);
  }
  parts.push(
    `<path class="axis" d="M${PAD.left} ${PAD.top}V${PAD.top + plotH}H${width - PAD.right}"/>`,
    `<line class="target" x1="${PAD.left}" x2="${width - PAD.right}" y1="${n(y(spec.targetSeconds))}" y2="${n(y(spec.targetSeconds))}"/>`,
    `<text class="target-label" x="${width - PAD.right}" y="${n(y(spec.targetSeconds) - 4)}" text-anchor="end">target ${escapeHtml(formatDuration(spec.targetSeconds))}</text>`,
  );

  if (points.length === 0) {
    parts.push(
      `<text class="empty" x="${PAD.left + plotW / 2}" y="${PAD.top + plotH / 2}" text-anchor="middle">no data in this window</text>`,
    );
  } else if (spec.style === 'step') {
    const periodMs = spec.periodMs ?? 3_600_000;
    let d = '';
    let lastEnd = -Infinity;
    for (const p of points) {
      const end = Math.min(spec.to, p.at + periodMs);
      d += p.at > lastEnd + 1 ? `M${n(x(p.at))} ${n(y(p.seconds))}` : `V${n(y(p.seconds))}`;
      d += `H${n(x(end))}`;
      lastEnd = end;
    }
    parts.push(`<path class="series" d="${d}"/>`);
  } else {
    const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${n(x(p.at))} ${n(y(p.seconds))}`).join('');
    parts.push(`<path class="series" d="${d}"/>`);
    for (const p of points) {
      parts.push(`<circle class="${p.failed ? 'point failed' : 'point'}" cx="${n(x(p.at))}" cy="${n(y(p.seconds))}" r="3"/>`);
    }
  }
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(spec.title)}">${parts.join('')}</svg>`;
}
