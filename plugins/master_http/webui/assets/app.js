// The page: a hash router over the views, the navigation, and the live connection badge. Each
// view is a module whose mount(root, params) returns {update(store), stop()}: update runs after
// the store changed (at most once a frame), stop when the view is left.
import { store, start, subscribe } from './store.js';
import * as overview from './views/overview.js';
import * as agents from './views/agents.js';
import * as frameworks from './views/frameworks.js';
import * as tasks from './views/tasks.js';
import * as task from './views/task.js';
import * as roles from './views/roles.js';
import * as marathon from './views/marathon.js';
import * as chronos from './views/chronos.js';
import { esc } from './format.js';

const routes = [
  { pattern: /^\/?$/, view: overview, nav: 'overview' },
  { pattern: /^\/agents$/, view: agents, nav: 'agents' },
  { pattern: /^\/agents\/(.+)$/, view: agents, nav: 'agents' },
  { pattern: /^\/frameworks$/, view: frameworks, nav: 'frameworks' },
  { pattern: /^\/tasks$/, view: tasks, nav: 'tasks' },
  { pattern: /^\/tasks\/(.+)$/, view: task, nav: 'tasks' },
  { pattern: /^\/roles$/, view: roles, nav: 'roles' },
  { pattern: /^\/marathon$/, view: marathon, nav: 'marathon' },
  { pattern: /^\/chronos$/, view: chronos, nav: 'chronos' },
];

let current = null;

function renderNav() {
  const active = current?.nav;
  const links = [['overview', '#/', 'Overview'], ['agents', '#/agents', 'Agents'],
    ['frameworks', '#/frameworks', 'Frameworks'], ['tasks', '#/tasks', 'Tasks'], ['roles', '#/roles', 'Roles']];
  if (store.frameworksHttp.marathon) links.push(['marathon', '#/marathon', 'Marathon']);
  if (store.frameworksHttp.chronos) links.push(['chronos', '#/chronos', 'Chronos']);
  const html = links.map(([key, href, label]) =>
    `<a href="${href}" data-nav="${key}"${key === active ? ' class="active"' : ''}>${esc(label)}</a>`).join('');
  const nav = document.getElementById('nav');
  if (nav.innerHTML !== html) nav.innerHTML = html;
  const badge = document.getElementById('connection');
  badge.textContent = store.live ? 'live' : 'reconnecting';
  badge.classList.toggle('live', store.live);
}

function route() {
  const [rawPath, search = ''] = location.hash.replace(/^#/, '').split('?');
  // Ids come percent-encoded in links; the query is URLSearchParams' to decode.
  let path = rawPath;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    // A malformed escape: match the path as typed.
  }
  const match = routes.map((r) => [r, path.match(r.pattern)]).find(([, m]) => m) ?? [routes[0], []];
  const [entry, groups] = match;
  current?.instance.stop?.();
  const root = document.getElementById('view');
  root.innerHTML = '';
  current = { nav: entry.nav, instance: entry.view.mount(root, groups.slice(1), new URLSearchParams(search)) };
  renderNav();
  current.instance.update?.(store);
}

subscribe(() => {
  renderNav();
  current?.instance.update?.(store);
});
window.addEventListener('hashchange', route);
start();
route();
