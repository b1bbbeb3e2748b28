// Formatting helpers shared by the views. Every value from the master is escaped before it
// reaches innerHTML: ids, names and attributes are set by frameworks and operators.

export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

export function number(value, digits = 2) {
  const n = Number(value);
  if (!Number.isFinite(n)) return '0';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits).replace(/\.?0+$/, '');
}

// Mesos reports mem and disk in MiB.
export function mib(value) {
  const n = Number(value) || 0;
  if (n >= 1024 * 1024) return `${number(n / (1024 * 1024))} TiB`;
  if (n >= 1024) return `${number(n / 1024)} GiB`;
  return `${number(n)} MiB`;
}

export function bytes(value) {
  const n = Number(value) || 0;
  return n >= 1024 * 1024 ? mib(n / (1024 * 1024)) : n >= 1024 ? `${number(n / 1024)} KiB` : `${n} B`;
}

// A date from unix seconds (what /state carries) or an ISO string (Marathon, Chronos).
export function time(value) {
  if (value === undefined || value === null || value === '') return '';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function resources(r, keys = ['cpus', 'mem', 'disk']) {
  if (!r) return '';
  return keys.filter((k) => r[k] !== undefined)
    .map((k) => (k === 'mem' || k === 'disk') ? `${k} ${mib(r[k])}` : `${k} ${number(r[k])}`)
    .join(', ');
}

export function state(value) {
  const s = String(value ?? '');
  return `<span class="state ${esc(s)}">${esc(s.replace(/^TASK_/, ''))}</span>`;
}

export function bar(used, total) {
  const share = total > 0 ? Math.min(1, Math.max(0, used / total)) : 0;
  return `<div class="bar" title="${esc(number(share * 100, 1))}%"><span style="width:${share * 100}%"></span></div>`;
}

export function shortId(id) {
  const s = String(id ?? '');
  return s.length > 24 ? `${s.slice(0, 10)}…${s.slice(-10)}` : s;
}

export function table(headers, rows, empty = 'None') {
  if (rows.length === 0) return `<p class="muted">${esc(empty)}</p>`;
  const head = headers.map((h) => h.startsWith('#') ? `<th class="num">${esc(h.slice(1))}</th>` : `<th>${esc(h)}</th>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}
