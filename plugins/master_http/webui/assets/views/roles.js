// Roles: weights, priorities, quotas, what each holds and its dominant share; an operator sets a
// weight, priority or quota here (PUT /roles/ROLE). Roles change without events, so the view
// reads /roles when opened and again after task events, at most every 2 s.
import { getJSON, request } from '../api.js';
import { esc, number, resources, bar, table } from '../format.js';

const REFRESH_MS = 2000;

export function mount(root) {
  root.innerHTML = `<h1>Roles</h1><div id="roles-table"><p class="muted">Loading…</p></div>
<h2>Set a role's weight, priority or quota</h2>
<form id="role-form" class="controls">
  <input name="role" placeholder="role" required size="14">
  <input name="weight" placeholder="weight" size="6">
  <input name="priority" placeholder="priority" size="6">
  <input name="quota" placeholder="quota: cpus:2;mem:1024" size="24">
  <button>Apply</button><span id="role-result" class="muted"></span>
</form>`;
  const $ = (id) => root.querySelector(`#${id}`);
  let stopped = false;
  let seenVersion = -1;
  let timer = null;

  async function load() {
    try {
      const answer = await getJSON('/roles');
      const roles = Array.isArray(answer) ? answer : (answer?.roles ?? []);
      if (stopped) return;
      const rows = roles.map((r) => `<tr data-role="${esc(r.name)}"><td>${esc(r.name)}</td>
<td class="num">${esc(number(r.weight ?? 1))}</td><td class="num">${esc(number(r.priority ?? 0))}</td>
<td>${esc(resources(r.quota)) || '<span class="muted">none</span>'}</td><td>${esc(resources(r.allocated))}</td>
<td class="num">${esc(number((Number(r.share) || 0) * 100, 1))}%</td><td>${bar(Number(r.share) || 0, 1)}</td></tr>`);
      $('roles-table').innerHTML = table(['Role', '#Weight', '#Priority', 'Quota', 'Allocated', '#Share', ''], rows, 'No roles');
    } catch (error) {
      if (!stopped) $('roles-table').innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  }

  $('role-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {};
    for (const key of ['weight', 'priority']) {
      const value = String(form.get(key) ?? '').trim();
      if (value !== '') body[key] = Number(value);
    }
    const quota = String(form.get('quota') ?? '').trim();
    if (quota) {
      body.quota = {};
      for (const part of quota.split(';').filter(Boolean)) {
        const [name, amount] = part.split(':');
        body.quota[name.trim()] = Number(amount);
      }
    }
    try {
      await request(`/roles/${encodeURIComponent(String(form.get('role')).trim())}`, {
        method: 'PUT', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' },
      });
      $('role-result').textContent = 'applied';
      load();
    } catch (error) {
      $('role-result').textContent = error.message;
    }
  });
  load();

  return {
    update(store) {
      if (store.taskVersion === seenVersion || timer) return;
      seenVersion = store.taskVersion;
      timer = setTimeout(() => { timer = null; load(); }, REFRESH_MS);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
