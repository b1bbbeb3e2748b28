// Overview: agents by state, frameworks, tasks by state, resources total and allocated now and
// over the time this page has been open.
import { totals, tasksByState, TERMINAL } from '../store.js';
import { esc, number, mib, bar, state, table, time } from '../format.js';
import { resourceChart } from '../chart.js';

function card(id, label, value) {
  return `<div class="card"><div class="label">${esc(label)}</div><div class="value" id="${id}">${esc(value)}</div></div>`;
}

export function mount(root) {
  root.innerHTML = '<h1>Overview</h1><div id="overview"></div>';
  const body = root.querySelector('#overview');
  return {
    update(store) {
      if (!store.loaded) {
        body.innerHTML = store.error ? `<p class="error">${esc(store.error)}</p>` : '<p class="muted">Loading…</p>';
        return;
      }
      const agents = [...store.agents.values()];
      const active = agents.filter((a) => a.active !== false).length;
      const frameworks = [...store.frameworks.values()];
      const counts = tasksByState();
      const running = Object.entries(counts).filter(([s]) => !TERMINAL.has(s)).reduce((n, [, c]) => n + c, 0);
      const { total, used } = totals();
      // The chart ends with the totals drawn in the table, not with the last 2-second sample.
      const samples = [...store.samples, { t: Date.now(), total, used }];
      const m = store.master;
      const resourceRows = [['CPUs', 'cpus', number], ['Memory', 'mem', mib], ['Disk', 'disk', mib]].map(([label, key, fmt]) =>
        `<tr data-resource="${key}"><td>${label}</td><td class="num">${esc(fmt(used[key]))}</td>` +
        `<td class="num">${esc(fmt(total[key]))}</td><td>${bar(used[key], total[key])}</td></tr>`);
      const stateRows = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)).map(([s, c]) =>
        `<tr data-state="${esc(s)}"><td>${state(s)}</td><td class="num">${c}</td></tr>`);
      body.innerHTML = `
<div class="cards">
  ${card('agents-active', 'Active agents', active)}
  ${card('agents-inactive', 'Inactive agents', agents.length - active)}
  ${card('frameworks-active', 'Frameworks', frameworks.filter((f) => f.active !== false).length)}
  ${card('tasks-active', 'Active tasks', running)}
</div>
<h2>Resources</h2>
${table(['Resource', '#Allocated', '#Total', 'Share'], resourceRows)}
<div class="charts" style="margin-top:1em">
  ${resourceChart('CPUs', samples, 'cpus', number)}
  ${resourceChart('Memory', samples, 'mem', mib)}
</div>
<h2>Tasks by state</h2>
${table(['State', '#Tasks'], stateRows, 'No tasks yet')}
<h2>Master</h2>
<dl class="fields">
  <dt>Version</dt><dd>${esc(m.version)}</dd>
  <dt>Started</dt><dd>${esc(time(m.start_time))}</dd>
  <dt>Leader</dt><dd>${esc(m.leader)} ${m.leader_http ? `(<a href="${esc(m.leader_http)}">${esc(m.leader_http)}</a>)` : ''}</dd>
  <dt>Hostname</dt><dd>${esc(m.hostname)}</dd>
</dl>`;
    },
  };
}
