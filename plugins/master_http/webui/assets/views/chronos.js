// Chronos: jobs with their schedules or parents, run counts and last runs, and the dependency
// graph drawn as SVG (jobs in columns by depth, an arrow from each parent to its child, coloured
// by the last run). A job's recent runs open below on a click. Read through the master's /chronos
// proxy every 5 s while the view is open.
import { getJSON, request } from '../api.js';
import { esc, table, time } from '../format.js';
import { frameworkView } from './framework_view.js';

const POLL_MS = 5000;
const NODE_W = 160;
const NODE_H = 28;
const COL_GAP = 60;
const ROW_GAP = 12;
const COLOURS = { success: '#c6f6d5', failure: '#fed7d7', fresh: '#edf2f7' };

// graph/csv: "node,NAME,LAST,CURRENT" per job, then "link,PARENT,CHILD".
function parseCsv(text) {
  const nodes = new Map();
  for (const line of String(text ?? '').split('\n')) {
    const [kind, name, last, current] = line.split(',');
    if (kind === 'node' && name) nodes.set(name, { last, current });
  }
  return nodes;
}

export function graph(jobs, nodes) {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const depth = new Map();
  // Longest path from a root, with a guard: a cycle (which Chronos refuses) must not hang the page.
  const depthOf = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const parents = (byName.get(name)?.parents ?? []).filter((p) => byName.has(p));
    const d = parents.length ? 1 + Math.max(...parents.map((p) => depthOf(p, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  jobs.forEach((j) => depthOf(j.name));
  const columns = [];
  for (const j of jobs) (columns[depth.get(j.name)] ??= []).push(j.name);
  const position = new Map();
  columns.forEach((names, c) => names.forEach((name, r) =>
    position.set(name, { x: 10 + c * (NODE_W + COL_GAP), y: 10 + r * (NODE_H + ROW_GAP) })));
  const width = 20 + columns.length * (NODE_W + COL_GAP);
  const height = 20 + Math.max(1, ...columns.map((c) => c?.length ?? 0)) * (NODE_H + ROW_GAP);
  const edges = [];
  for (const j of jobs) {
    for (const parent of j.parents ?? []) {
      const from = position.get(parent);
      const to = position.get(j.name);
      if (!from || !to) continue;
      const x1 = from.x + NODE_W; const y1 = from.y + NODE_H / 2; const x2 = to.x; const y2 = to.y + NODE_H / 2;
      edges.push(`<path d="M${x1},${y1} C${x1 + COL_GAP / 2},${y1} ${x2 - COL_GAP / 2},${y2} ${x2 - 2},${y2}" fill="none" stroke="#718096" marker-end="url(#arrow)"/>`);
    }
  }
  const boxes = jobs.map((j) => {
    const p = position.get(j.name);
    const node = nodes.get(j.name) ?? {};
    const running = node.current && node.current !== 'idle';
    const label = j.name.length > 22 ? `${j.name.slice(0, 21)}…` : j.name;
    return `<g data-job="${esc(j.name)}"><title>${esc(j.name)}: last ${esc(node.last ?? '?')}, ${esc(node.current ?? '?')}</title>
<rect x="${p.x}" y="${p.y}" width="${NODE_W}" height="${NODE_H}" rx="4" fill="${COLOURS[node.last] ?? '#fff'}"
 stroke="${running ? '#2b6cb0' : '#a0aec0'}" stroke-width="${running ? 2.5 : 1}"${j.disabled ? ' stroke-dasharray="3 2"' : ''}/>
<text x="${p.x + 8}" y="${p.y + 18}">${esc(label)}</text></g>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" id="chronos-graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
<path d="M0,0 L10,5 L0,10 z" fill="#718096"/></marker></defs>${edges.join('')}${boxes.join('')}</svg>`;
}

function jobTable(jobs, nodes) {
  const rows = jobs.map((j) => {
    const node = nodes.get(j.name) ?? {};
    const when = j.schedule ? `<code>${esc(j.schedule)}</code>` : `after ${esc((j.parents ?? []).join(', '))}`;
    return `<tr data-job="${esc(j.name)}"><td><a href="#" data-runs="${esc(j.name)}">${esc(j.name)}</a>${j.disabled ? ' <span class="muted">(disabled)</span>' : ''}</td>
<td>${when}</td><td>${esc(node.current ?? '')}</td><td>${esc(node.last ?? '')}</td>
<td class="num">${esc(j.successCount ?? 0)}</td><td class="num">${esc(j.errorCount ?? 0)}</td>
<td>${esc(time(j.lastSuccess))}</td><td>${esc(time(j.lastError))}</td><td class="mono">${esc(j.command ?? '')}</td></tr>`;
  });
  return table(['Job', 'Schedule', 'Now', 'Last', '#Successes', '#Errors', 'Last success', 'Last error', 'Command'], rows, 'No jobs');
}

export function mount(root) {
  root.innerHTML = `<h1>Chronos</h1><div id="chronos"><p class="muted">Loading…</p></div>
<div id="chronos-runs"></div>`;
  const body = root.querySelector('#chronos');
  const runs = root.querySelector('#chronos-runs');
  const view = frameworkView(body, 'chronos', 'Chronos', POLL_MS, async (base) => {
    const [jobs, csv] = await Promise.all([getJSON(`${base}/v1/scheduler/jobs`), request(`${base}/v1/scheduler/graph/csv`)]);
    const list = Array.isArray(jobs) ? jobs : [];
    const nodes = parseCsv(csv);
    return `<h2>Jobs</h2>${jobTable(list, nodes)}<h2>Dependency graph</h2>
<div class="graph">${list.length ? graph(list, nodes) : '<p class="muted">No jobs</p>'}</div>`;
  });

  async function showRuns(name) {
    try {
      const list = await getJSON(`${view.base()}/v1/scheduler/job/${encodeURIComponent(name)}/runs`);
      const rows = (Array.isArray(list) ? list : []).slice(0, 20).map((r) => `<tr><td>${esc(r.status)}</td>
<td>${esc(r.trigger)}</td><td class="num">${esc(r.attempt)}</td><td>${esc(time(r.started))}</td><td>${esc(time(r.ended))}</td>
<td class="num">${esc(r.exitStatus ?? '')}</td><td>${r.taskId ? `<a href="#/tasks/${encodeURIComponent(r.taskId)}">${esc(r.taskId)}</a>` : ''}</td>
<td>${esc(r.message ?? '')}<pre class="mono">${esc(r.outputTail ?? '')}</pre></td></tr>`);
      runs.innerHTML = `<h2>Runs of ${esc(name)}</h2>${table(['Status', 'Trigger', '#Attempt', 'Started', 'Ended', '#Exit', 'Task', 'Message and output'], rows, 'No runs yet')}`;
    } catch (error) {
      runs.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  }
  body.addEventListener('click', (event) => {
    const link = event.target.closest('[data-runs]');
    if (!link) return;
    event.preventDefault();
    showRuns(link.dataset.runs);
  });
  return view;
}
