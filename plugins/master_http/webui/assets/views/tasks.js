// Tasks, active then completed, paged through /tasks (never the whole state, so that 100k tasks
// stay cheap), filtered by state and framework and searched by id or name. A task event
// refreshes the page shown, at most once a second.
import { getJSON, query } from '../api.js';
import { esc, resources, state, table, time, shortId } from '../format.js';

const PAGE = 50;
const STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED',
  'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_UNKNOWN'];
const REFRESH_MS = 1000;

export function mount(root, _groups, search) {
  const filter = { state: search.get('state') ?? '', framework_id: search.get('framework_id') ?? '', q: search.get('q') ?? '', offset: 0 };
  root.innerHTML = `<h1>Tasks</h1>
<div class="controls">
  <input id="task-search" type="search" placeholder="Search id or name" value="${esc(filter.q)}" size="30">
  <select id="task-state"><option value="">Any state</option>${STATES.map((s) =>
    `<option value="${s}"${s === filter.state ? ' selected' : ''}>${s.replace(/^TASK_/, '')}</option>`).join('')}</select>
  <select id="task-framework"><option value="">Any framework</option></select>
  <button id="task-prev">‹ Previous</button><button id="task-next">Next ›</button>
  <span id="task-range" class="muted"></span>
</div>
<div id="task-table"><p class="muted">Loading…</p></div>`;
  const $ = (id) => root.querySelector(`#${id}`);
  let stopped = false;
  let loading = false;
  let again = false;
  let total = 0;
  let seenVersion = -1;
  let timer = null;
  let lastLoad = 0;
  // Names for the ids in the rows, from the page's copy of the cluster.
  let frameworkName = (id) => id;
  let agentName = (id) => id;

  async function load() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    lastLoad = Date.now();
    try {
      const page = await getJSON(`/tasks${query({ limit: PAGE, offset: filter.offset, state: filter.state, framework_id: filter.framework_id, q: filter.q })}`);
      if (stopped) return;
      total = Number(page.total) || 0;
      const rows = (page.tasks ?? []).map((t) => {
        const last = (t.statuses ?? [])[t.statuses?.length - 1];
        return `<tr data-task="${esc(t.id)}"><td><a href="#/tasks/${encodeURIComponent(t.id)}" class="mono">${esc(shortId(t.id))}</a></td>
<td>${esc(t.name)}</td><td>${state(t.state)}</td><td title="${esc(t.framework_id)}">${esc(frameworkName(t.framework_id))}</td>
<td><a href="#/agents/${encodeURIComponent(t.slave_id ?? '')}" title="${esc(t.slave_id)}">${esc(agentName(t.slave_id))}</a></td>
<td>${esc(resources(t.resources))}</td><td>${esc(time(last?.timestamp))}</td></tr>`;
      });
      $('task-table').innerHTML = table(['Id', 'Name', 'State', 'Framework', 'Agent', 'Resources', 'Updated'], rows, 'No tasks match');
      const first = total === 0 ? 0 : filter.offset + 1;
      $('task-range').textContent = `${first}–${Math.min(filter.offset + PAGE, total)} of ${total}`;
      $('task-prev').disabled = filter.offset === 0;
      $('task-next').disabled = filter.offset + PAGE >= total;
    } catch (error) {
      if (!stopped) $('task-table').innerHTML = `<p class="error">${esc(error.message)}</p>`;
    } finally {
      loading = false;
      if (again && !stopped) {
        again = false;
        load();
      }
    }
  }

  function refilter() {
    filter.offset = 0;
    load();
  }
  let typing = null;
  $('task-search').addEventListener('input', (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => { filter.q = e.target.value.trim(); refilter(); }, 250);
  });
  $('task-state').addEventListener('change', (e) => { filter.state = e.target.value; refilter(); });
  $('task-framework').addEventListener('change', (e) => { filter.framework_id = e.target.value; refilter(); });
  $('task-prev').addEventListener('click', () => { filter.offset = Math.max(0, filter.offset - PAGE); load(); });
  $('task-next').addEventListener('click', () => { if (filter.offset + PAGE < total) { filter.offset += PAGE; load(); } });

  return {
    update(store) {
      frameworkName = (id) => store.frameworks.get(id)?.name ?? shortId(id);
      agentName = (id) => store.agents.get(id)?.hostname ?? shortId(id);
      const select = $('task-framework');
      const options = `<option value="">Any framework</option>${[...store.frameworks.values()].map((f) =>
        `<option value="${esc(f.id)}"${f.id === filter.framework_id ? ' selected' : ''}>${esc(f.name)} (${esc(shortId(f.id))})</option>`).join('')}`;
      if (select.dataset.options !== options) {
        select.innerHTML = options;
        select.dataset.options = options;
      }
      if (!store.loaded || store.taskVersion === seenVersion) return;
      seenVersion = store.taskVersion;
      // Throttled: a burst of task events costs one /tasks request a second.
      const wait = Math.max(0, lastLoad + REFRESH_MS - Date.now());
      if (!timer) timer = setTimeout(() => { timer = null; load(); }, wait);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(typing);
    },
  };
}
