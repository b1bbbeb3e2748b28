// A small SVG line chart of a resource's total and allocated amounts over time. Written here
// rather than taken from a charting library: two series on a time axis is ~60 lines, and the UI
// stays free of dependencies.
import { esc } from './format.js';

const WIDTH = 600;
const HEIGHT = 160;
const PAD = { left: 48, right: 8, top: 8, bottom: 20 };

function path(points) {
  return points.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
}

// samples: [{t, total: {key}, used: {key}}]; format turns an amount into a label.
export function resourceChart(title, samples, key, format) {
  const legend = `<div class="legend"><b>${esc(title)}</b><i style="background:#a0aec0"></i>total` +
    `<i style="background:#2b6cb0"></i>allocated</div>`;
  if (samples.length === 0) return `<div class="chart">${legend}<p class="muted">No samples yet</p></div>`;
  const t0 = samples[0].t;
  // At least a minute wide, so that the first seconds do not stretch across the chart.
  const t1 = Math.max(samples[samples.length - 1].t, t0 + 60000);
  const max = Math.max(1e-9, ...samples.map((s) => Math.max(s.total[key], s.used[key]))) * 1.1;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const total = samples.map((s) => [x(s.t), y(s.total[key])]);
  const used = samples.map((s) => [x(s.t), y(s.used[key])]);
  const base = y(0);
  const area = `${path(used)}L${used[used.length - 1][0].toFixed(1)},${base}L${used[0][0].toFixed(1)},${base}Z`;
  const last = samples[samples.length - 1];
  const grid = [0, 0.5, 1].map((f) => {
    const v = (max / 1.1) * f;
    return `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e2e8f0"/>` +
      `<text x="${PAD.left - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10" fill="#718096">${esc(format(v))}</text>`;
  }).join('');
  const clock = (t) => new Date(t).toLocaleTimeString();
  return `<div class="chart">${legend}
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img"
 aria-label="${esc(title)}: ${esc(format(last.used[key]))} of ${esc(format(last.total[key]))} allocated">
${grid}
<path d="${area}" fill="#2b6cb0" fill-opacity="0.25"/>
<path d="${path(used)}" fill="none" stroke="#2b6cb0" stroke-width="1.5"/>
<path d="${path(total)}" fill="none" stroke="#a0aec0" stroke-width="1.5" stroke-dasharray="4 2"/>
<text x="${PAD.left}" y="${HEIGHT - 4}" font-size="10" fill="#718096">${esc(clock(t0))}</text>
<text x="${WIDTH - PAD.right}" y="${HEIGHT - 4}" font-size="10" fill="#718096" text-anchor="end">${esc(clock(t1))}</text>
</svg></div>`;
}
