// The page's copy of the cluster: fetched from /state once the event stream is open (and again
// after every reconnect, since events may have been missed), then kept current by /events alone.
// Tasks are kept slim (id, name, state, framework, agent, resources) so that 100k of them fit;
// the tasks view pages through /tasks for the full records.
import { getJSON } from './api.js';

export const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST',
  'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

// Completed tasks the page remembers beyond what /state sent; the oldest are forgotten first.
const COMPLETED_KEPT = 20000;
// Resource samples for the overview's chart: one every 2 s, 15 minutes of them.
const SAMPLE_INTERVAL_MS = 2000;
const SAMPLES_KEPT = 450;
const EVENT_NAMES = ['task_added', 'task_updated', 'agent_added', 'agent_updated', 'agent_removed',
  'framework_added', 'framework_updated', 'framework_removed', 'heartbeat'];

export const store = {
  live: false,
  loaded: false,
  error: '',
  master: {},
  agents: new Map(),
  frameworks: new Map(),
  tasks: new Map(),
  roles: [],
  frameworksHttp: {},
  samples: [],
  // Bumped on every task event: views that page through /tasks refresh when it moves.
  taskVersion: 0,
};

const listeners = new Set();
let notifyScheduled = false;

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Coalesces a burst of events into one redraw per animation frame.
function notify() {
  if (notifyScheduled) return;
  notifyScheduled = true;
  requestAnimationFrame(() => {
    notifyScheduled = false;
    for (const listener of listeners) listener(store);
  });
}

function slimTask(task) {
  const r = task.resources ?? {};
  return {
    id: task.id, name: task.name, state: task.state, framework_id: task.framework_id,
    slave_id: task.slave_id, resources: { cpus: Number(r.cpus) || 0, mem: Number(r.mem) || 0, disk: Number(r.disk) || 0 },
  };
}

function putTask(task) {
  if (!task || typeof task.id !== 'string') return;
  store.tasks.delete(task.id);  // Re-inserted last: the map's order is the order of last change.
  store.tasks.set(task.id, slimTask(task));
  if (TERMINAL.has(task.state)) forgetOldCompleted();
}

let completedSeen = 0;
function forgetOldCompleted() {
  if (++completedSeen % 1000 !== 0) return;
  let completed = 0;
  for (const task of store.tasks.values()) if (TERMINAL.has(task.state)) completed++;
  for (const [id, task] of store.tasks) {
    if (completed <= COMPLETED_KEPT) break;
    if (TERMINAL.has(task.state)) {
      store.tasks.delete(id);
      completed--;
    }
  }
}

function applyState(state) {
  store.master = state;
  store.agents = new Map((state.slaves ?? []).map((a) => [a.id, a]));
  store.frameworks = new Map();
  store.tasks = new Map();
  for (const framework of state.frameworks ?? []) {
    for (const task of framework.completed_tasks ?? []) putTask(task);
    for (const task of framework.tasks ?? []) putTask(task);
    const { tasks, completed_tasks, ...rest } = framework;
    store.frameworks.set(framework.id, rest);
  }
  store.roles = state.roles ?? [];
  store.frameworksHttp = state.frameworks_http ?? {};
  store.loaded = true;
  store.error = '';
  store.taskVersion++;
  sample();
}

function apply(name, data) {
  switch (name) {
    case 'task_added':
    case 'task_updated':
      putTask(data);
      store.taskVersion++;
      break;
    case 'agent_added':
    case 'agent_updated':
      if (data?.id) store.agents.set(data.id, data);
      break;
    case 'agent_removed':
      store.agents.delete(data?.id);
      break;
    case 'framework_added':
    case 'framework_updated':
      if (data?.id) store.frameworks.set(data.id, { ...store.frameworks.get(data.id), ...data });
      break;
    case 'framework_removed':
      store.frameworks.delete(data?.id);
      break;
    default:
      break;  // heartbeat: the stream is alive.
  }
}

// Totals over agents, allocation over the active tasks the page knows.
export function totals() {
  const total = { cpus: 0, mem: 0, disk: 0 };
  const used = { cpus: 0, mem: 0, disk: 0 };
  for (const agent of store.agents.values()) {
    for (const key of Object.keys(total)) total[key] += Number(agent.resources?.[key]) || 0;
  }
  for (const task of store.tasks.values()) {
    if (TERMINAL.has(task.state)) continue;
    for (const key of Object.keys(used)) used[key] += task.resources[key];
  }
  return { total, used };
}

// What the active tasks hold, summed by `field` (slave_id or framework_id). The master sends no
// event when an agent's or framework's used resources change, so the page adds them up itself.
export function usedBy(field) {
  const used = new Map();
  for (const task of store.tasks.values()) {
    if (TERMINAL.has(task.state)) continue;
    const sum = used.get(task[field]) ?? { cpus: 0, mem: 0, disk: 0 };
    for (const key of Object.keys(sum)) sum[key] += task.resources[key];
    used.set(task[field], sum);
  }
  return used;
}

export function tasksByState() {
  const counts = {};
  for (const task of store.tasks.values()) counts[task.state] = (counts[task.state] ?? 0) + 1;
  return counts;
}

function sample() {
  if (!store.loaded) return;
  store.samples.push({ t: Date.now(), ...totals() });
  if (store.samples.length > SAMPLES_KEPT) store.samples.splice(0, store.samples.length - SAMPLES_KEPT);
  notify();
}

let buffered = null;  // Events that arrive while /state is being fetched, applied after it.
let resyncing = false;

async function resync() {
  if (resyncing) return;
  resyncing = true;
  buffered = [];
  try {
    const state = await getJSON('/state');
    applyState(state);
    for (const [name, data] of buffered) apply(name, data);
  } catch (error) {
    store.error = String(error.message ?? error);
    setTimeout(resync, 2000);
  } finally {
    buffered = null;
    resyncing = false;
    notify();
  }
}

// The master sends a heartbeat every 15 s: a stream silent for three of them is dead even if
// its connection looks open (a peer that vanished without a FIN), so it is replaced.
const SILENCE_LIMIT_MS = 45000;

function connect() {
  const events = new EventSource('/events');
  let heardAt = Date.now();
  events.onopen = () => {
    heardAt = Date.now();
    store.live = true;
    resync();
  };
  events.onerror = () => {
    // EventSource reconnects by itself; the state is fetched again once it has.
    store.live = false;
    notify();
  };
  for (const name of EVENT_NAMES) {
    events.addEventListener(name, (event) => {
      heardAt = Date.now();
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (buffered) buffered.push([name, data]);
      else if (store.loaded) apply(name, data);
      notify();
    });
  }
  const watchdog = setInterval(() => {
    if (Date.now() - heardAt < SILENCE_LIMIT_MS) return;
    clearInterval(watchdog);
    events.close();
    store.live = false;
    notify();
    connect();
  }, 5000);
}

export function start() {
  connect();
  // A proxy may hold the stream's headers back: show the state anyway, events follow.
  setTimeout(() => { if (!store.loaded) resync(); }, 3000);
  setInterval(sample, SAMPLE_INTERVAL_MS);
}
