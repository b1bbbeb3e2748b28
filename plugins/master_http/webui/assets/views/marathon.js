// Marathon: apps with their instances and health, the deployments under way, and the launch
// queue with why each waiting app is not placed (which resource the offers lacked, and the
// largest offer seen). Read through the master's /marathon proxy every 2 s while the view is open.
import { getJSON } from '../api.js';
import { esc, number, mib, resources, table, time } from '../format.js';
import { frameworkView } from './framework_view.js';

const POLL_MS = 2000;

function apps(list) {
  const rows = list.map((a) => {
    const unhealthy = Number(a.tasksUnhealthy) || 0;
    const health = (a.healthChecks ?? []).length === 0 ? '<span class="muted">no checks</span>'
      : `<span class="state ${unhealthy ? 'bad' : 'ok'}">${esc(a.tasksHealthy ?? 0)} healthy, ${esc(unhealthy)} unhealthy</span>`;
    const failure = a.lastTaskFailure ? `<div class="error">${esc(a.lastTaskFailure.state)}: ${esc(a.lastTaskFailure.message)}</div>` : '';
    return `<tr data-app="${esc(a.id)}"><td>${esc(a.id)}${failure}</td>
<td class="num" data-field="running">${esc(a.tasksRunning ?? 0)}</td><td class="num" data-field="instances">${esc(a.instances ?? 0)}</td>
<td class="num">${esc(a.tasksStaged ?? 0)}</td><td>${health}</td>
<td class="num">${esc(number(a.cpus ?? 0))}</td><td class="num">${esc(mib(a.mem ?? 0))}</td>
<td>${(a.deployments ?? []).length ? '<span class="state">deploying</span>' : ''}</td>
<td class="mono">${esc(a.cmd ?? a.container?.docker?.image ?? '')}</td></tr>`;
  });
  return table(['App', '#Running', '#Instances', '#Staged', 'Health', '#CPUs', '#Memory', 'Deployment', 'Command'], rows, 'No apps');
}

function deployments(list) {
  const rows = list.map((d) => {
    const actions = (d.currentActions ?? []).map((a) => `${a.action} ${a.app}`).join(', ');
    return `<tr><td class="mono">${esc(d.id)}</td><td>${esc((d.affectedApps ?? []).join(', '))}</td>
<td>${esc(actions)}</td><td class="num">${esc(d.currentStep ?? '')} / ${esc(d.totalSteps ?? '')}</td><td>${esc(time(d.version))}</td></tr>`;
  });
  return table(['Deployment', 'Apps', 'Current actions', '#Step', 'Started'], rows, 'No deployments under way');
}

function queue(list) {
  const rows = list.map((q) => {
    const summary = q.processedOffersSummary ?? {};
    const reasons = (summary.rejectSummaryLastOffers ?? []).filter((r) => Number(r.declined) > 0)
      .map((r) => `${r.reason} (${r.declined} of ${r.processed})`).join(', ');
    const delay = q.delay && !q.delay.overdue ? `backoff ${esc(q.delay.timeLeftSeconds)} s` : '';
    const largest = q.largestOffer ? resources(q.largestOffer) : '';
    const asked = resources({ cpus: q.app?.cpus, mem: q.app?.mem, disk: q.app?.disk });
    return `<tr data-queued="${esc(q.app?.id)}"><td>${esc(q.app?.id)}</td><td class="num">${esc(q.count)}</td>
<td>${esc(time(q.since))}</td><td>${delay}</td><td class="num">${esc(summary.processedOffersCount ?? 0)}</td>
<td>${esc(reasons) || '<span class="muted">no offer declined yet</span>'}</td>
<td>asks ${esc(asked)}${largest ? `; largest offer ${esc(largest)}` : ''}</td></tr>`;
  });
  return table(['App', '#Waiting', 'Since', 'Delay', '#Offers seen', 'Offers declined because', 'Fit'], rows, 'Nothing waiting');
}

export function mount(root) {
  root.innerHTML = '<h1>Marathon</h1><div id="marathon"><p class="muted">Loading…</p></div>';
  return frameworkView(root.querySelector('#marathon'), 'marathon', 'Marathon', POLL_MS, async (base) => {
    const [a, q, d] = await Promise.all([getJSON(`${base}/v2/apps?embed=apps.counts`),
      getJSON(`${base}/v2/queue`), getJSON(`${base}/v2/deployments`)]);
    return `<h2>Apps</h2>${apps(a?.apps ?? [])}<h2>Deployments</h2>${deployments(d ?? [])}` +
      `<h2>Launch queue</h2>${queue(q?.queue ?? [])}`;
  });
}
