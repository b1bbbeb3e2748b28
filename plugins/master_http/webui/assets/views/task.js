// One task: its fields and status history, and a live tail of its stdout and stderr. The tail
// reads only what was appended since the last read (/files/read with an offset), starting from
// the last 64 KiB of the file.
import { getJSON, query, ApiError } from '../api.js';
import { esc, resources, state, table, time, bytes } from '../format.js';

const TAIL_START = 64 * 1024;
const CHUNK = 256 * 1024;
const KEPT_CHARS = 512 * 1024;
const POLL_MS = 1000;
const encoder = new TextEncoder();

// Follows one sandbox file of a task into a <pre>.
class Tail {
  constructor(taskId, path, pre, status) {
    Object.assign(this, { taskId, path, pre, status, offset: null, stopped: false, timer: null });
  }

  async step() {
    if (this.stopped) return;
    let delay = POLL_MS;
    try {
      const base = { task_id: this.taskId, path: this.path };
      if (this.offset === null) {
        const size = await getJSON(`/files/read${query({ ...base, offset: -1 })}`);
        this.offset = Math.max(0, (Number(size.offset) || 0) - TAIL_START);
      }
      const chunk = await getJSON(`/files/read${query({ ...base, offset: this.offset, length: CHUNK })}`);
      const data = String(chunk.data ?? '');
      if (data.length > 0) {
        this.append(data);
        this.offset = (Number(chunk.offset) || this.offset) + encoder.encode(data).length;
        if (encoder.encode(data).length >= CHUNK) delay = 0;  // More is waiting: read on.
      }
      this.status.textContent = `${bytes(this.offset)} read`;
    } catch (error) {
      // The sandbox may not exist yet (a staging task): keep trying.
      this.status.textContent = error instanceof ApiError && error.status === 404 ? 'no file yet' : error.message;
    }
    if (!this.stopped) this.timer = setTimeout(() => this.step(), delay);
  }

  append(text) {
    const pre = this.pre;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let content = pre.textContent + text;
    if (content.length > KEPT_CHARS) content = content.slice(content.length - KEPT_CHARS);
    pre.textContent = content;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

function fields(t, names) {
  const statuses = (t.statuses ?? []).map((s) =>
    `<tr><td>${state(s.state)}</td><td>${esc(time(s.timestamp))}</td><td>${esc(s.message ?? '')}</td><td>${esc(s.reason ?? '')}</td></tr>`);
  const usage = t.usage ? `${Number(t.usage.cpu_seconds ?? 0).toFixed(2)} cpu s, ${bytes(t.usage.mem_bytes)} (peak ${bytes(t.usage.mem_peak_bytes)})` : '';
  return `<dl class="fields">
<dt>Id</dt><dd class="mono">${esc(t.id)}</dd><dt>Name</dt><dd>${esc(t.name)}</dd>
<dt>State</dt><dd id="task-state">${state(t.state)}</dd>
<dt>Framework</dt><dd>${esc(names.framework(t.framework_id))} <span class="mono muted">${esc(t.framework_id)}</span></dd>
<dt>Agent</dt><dd><a href="#/agents/${encodeURIComponent(t.slave_id ?? '')}">${esc(names.agent(t.slave_id) || 'agent')}</a> <span class="mono muted">${esc(t.slave_id)}</span></dd>
<dt>Resources</dt><dd>${esc(resources(t.resources))}${t.resources?.ports ? `; ports ${esc(t.resources.ports)}` : ''}</dd>
${t.container ? `<dt>Container</dt><dd>${esc(t.container.type)} ${esc(t.container.docker?.image ?? '')}</dd>` : ''}
${usage ? `<dt>Usage</dt><dd>${esc(usage)}</dd>` : ''}
<dt>Sandbox</dt><dd class="mono">${esc(t.sandbox ?? '')}</dd></dl>
<h2>Status updates</h2>${table(['State', 'Time', 'Message', 'Reason'], statuses, 'None')}`;
}

export function mount(root, [id]) {
  root.innerHTML = `<h1>Task</h1><div id="task-fields"><p class="muted">Loading…</p></div>
<h2>Output</h2>
<div class="logs">
  <div><b>stdout</b> <span class="muted" id="stdout-status"></span>
    <a href="/files/download${esc(query({ task_id: id, path: 'stdout' }))}">download</a><pre class="log" id="stdout"></pre></div>
  <div><b>stderr</b> <span class="muted" id="stderr-status"></span>
    <a href="/files/download${esc(query({ task_id: id, path: 'stderr' }))}">download</a><pre class="log" id="stderr"></pre></div>
</div>`;
  const $ = (name) => root.querySelector(`#${name}`);
  const tails = ['stdout', 'stderr'].map((path) => new Tail(id, path, $(path), $(`${path}-status`)));
  tails.forEach((tail) => tail.step());
  let stopped = false;
  let shownState = null;
  // Names for the ids, from the page's copy of the cluster once it is there.
  const names = { framework: () => '', agent: () => '' };

  async function load() {
    try {
      // The exact task among those whose id or name contains it.
      const page = await getJSON(`/tasks${query({ q: id, limit: 1000 })}`);
      const t = (page.tasks ?? []).find((x) => x.id === id);
      if (stopped) return;
      $('task-fields').innerHTML = t ? fields(t, names) : `<p class="error">No task '${esc(id)}'</p>`;
    } catch (error) {
      if (!stopped) $('task-fields').innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
  }
  load();

  return {
    update(store) {
      names.framework = (fid) => store.frameworks.get(fid)?.name ?? '';
      names.agent = (aid) => store.agents.get(aid)?.hostname ?? '';
      // The page's copy says when this task changed: fetch its record again then.
      const slim = store.tasks.get(id);
      if (slim && slim.state !== shownState) {
        shownState = slim.state;
        load();
      }
    },
    stop() {
      stopped = true;
      tails.forEach((tail) => tail.stop());
    },
  };
}
