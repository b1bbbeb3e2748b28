// Frameworks: roles, state, the resources their active tasks hold, task counts.
import { TERMINAL, usedBy } from '../store.js';
import { esc, resources, state, table, time, shortId } from '../format.js';

export function mount(root) {
  return {
    update(store) {
      if (!store.loaded) return;
      const active = new Map();
      const completed = new Map();
      for (const t of store.tasks.values()) {
        const counts = TERMINAL.has(t.state) ? completed : active;
        counts.set(t.framework_id, (counts.get(t.framework_id) ?? 0) + 1);
      }
      const used = usedBy('framework_id');
      const rows = [...store.frameworks.values()].map((f) => `<tr data-framework="${esc(f.id)}">
<td class="mono" title="${esc(f.id)}">${esc(shortId(f.id))}</td><td>${esc(f.name)}</td>
<td>${esc((f.roles ?? []).join(', '))}</td><td>${f.active === false ? state('inactive') : '<span class="state ok">active</span>'}</td>
<td>${esc(time(f.registered_time))}</td><td>${esc(resources(used.get(f.id) ?? { cpus: 0, mem: 0, disk: 0 }))}</td>
<td class="num"><a href="#/tasks?framework_id=${encodeURIComponent(f.id)}">${active.get(f.id) ?? 0}</a></td>
<td class="num">${completed.get(f.id) ?? 0}</td></tr>`);
      root.innerHTML = `<h1>Frameworks</h1>${table(['Id', 'Name', 'Roles', 'State', 'Registered', 'Used', '#Active tasks', '#Completed'], rows, 'No frameworks')}`;
    },
  };
}
