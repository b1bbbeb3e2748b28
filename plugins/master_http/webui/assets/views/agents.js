// Agents: resources used and total, attributes, and the active tasks on each; one agent's
// detail at #/agents/ID.
import { TERMINAL, usedBy } from '../store.js';
import { esc, number, mib, resources, bar, state, table, time, shortId } from '../format.js';

function attributes(a) {
  return Object.entries(a ?? {}).map(([k, v]) => `<code>${esc(k)}=${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</code>`).join(' ');
}

function tasksOn(store, agentId) {
  return [...store.tasks.values()].filter((t) => t.slave_id === agentId && !TERMINAL.has(t.state));
}

function list(store) {
  const counts = new Map();
  for (const t of store.tasks.values()) {
    if (!TERMINAL.has(t.state)) counts.set(t.slave_id, (counts.get(t.slave_id) ?? 0) + 1);
  }
  const used = usedBy('slave_id');
  const rows = [...store.agents.values()].sort((a, b) => String(a.hostname).localeCompare(String(b.hostname))).map((a) => {
    const r = a.resources ?? {};
    const u = used.get(a.id) ?? {};
    return `<tr data-agent="${esc(a.id)}">
<td><a href="#/agents/${encodeURIComponent(a.id)}" class="mono">${esc(shortId(a.id))}</a></td>
<td>${esc(a.hostname)}</td><td>${a.active === false ? state('inactive') : '<span class="state ok">active</span>'}</td>
<td class="num">${esc(number(u.cpus ?? 0))} / ${esc(number(r.cpus ?? 0))}</td><td>${bar(u.cpus ?? 0, r.cpus ?? 0)}</td>
<td class="num">${esc(mib(u.mem ?? 0))} / ${esc(mib(r.mem ?? 0))}</td>
<td class="num">${esc(mib(u.disk ?? 0))} / ${esc(mib(r.disk ?? 0))}</td>
<td class="mono">${esc(r.ports ?? '')}</td><td>${attributes(a.attributes)}</td>
<td class="num">${counts.get(a.id) ?? 0}</td></tr>`;
  });
  return `<h1>Agents</h1>${table(['Id', 'Host', 'State', '#CPUs', '', '#Memory', '#Disk', 'Ports', 'Attributes', '#Tasks'], rows, 'No agents')}`;
}

function detail(store, id) {
  const a = store.agents.get(id);
  if (!a) return `<h1>Agent</h1><p class="error">No agent '${esc(id)}'</p>`;
  const rows = tasksOn(store, id).map((t) =>
    `<tr><td><a href="#/tasks/${encodeURIComponent(t.id)}">${esc(t.id)}</a></td><td>${esc(t.name)}</td>` +
    `<td>${state(t.state)}</td><td>${esc(resources(t.resources))}</td></tr>`);
  return `<h1>Agent ${esc(a.hostname)}</h1>
<dl class="fields"><dt>Id</dt><dd class="mono">${esc(a.id)}</dd>
<dt>Registered</dt><dd>${esc(time(a.registered_time))}</dd>
<dt>Resources</dt><dd>${esc(resources(a.resources, Object.keys(a.resources ?? {}).filter((k) => k !== 'ports')))}; ports ${esc(a.resources?.ports ?? '')}</dd>
<dt>Used</dt><dd>${esc(resources(usedBy('slave_id').get(a.id) ?? { cpus: 0, mem: 0, disk: 0 }))}</dd>
<dt>Offered</dt><dd>${esc(resources(a.offered_resources))} <span class="muted">(at its last update)</span></dd>
<dt>Attributes</dt><dd>${attributes(a.attributes) || '<span class="muted">none</span>'}</dd></dl>
<h2>Active tasks</h2>${table(['Id', 'Name', 'State', 'Resources'], rows, 'No active tasks')}`;
}

export function mount(root, [id]) {
  return {
    update(store) {
      if (!store.loaded) return;
      root.innerHTML = id ? detail(store, id) : list(store);
    },
  };
}
