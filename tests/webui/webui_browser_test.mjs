// The web UI in a real browser (Debian's chromium, driven by playwright-core) against a real
// cluster: a master host (master, master_http, Marathon, Chronos) and two agent hosts, each a
// tessera-host process on port 0 with its own work dir. It checks what an operator would look at:
// the overview's agent and task counts, a task launched with the `tessera` CLI appearing without
// a reload, that task's stdout in its log tail, a Marathon app scaling from 1 to 3, and the
// Chronos dependency graph. Screenshots land in $TESSERA_WEBUI_SCREENSHOTS.
//
// Exit status: 0 passed, 1 failed, 77 skipped (no chromium or no playwright-core: ctest's
// SKIP_RETURN_CODE).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HOST_BIN = process.env.TESSERA_HOST_BIN;
const CLI_BIN = process.env.TESSERA_CLI_BIN;
const PLUGIN_DIR = process.env.TESSERA_PLUGIN_DIR;
const SHOTS = process.env.TESSERA_WEBUI_SCREENSHOTS ?? join(process.cwd(), 'screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Generous: the machine may be loaded by other builds and tests.
const DEADLINE_MS = 90_000;

function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(77);
}

if (!HOST_BIN || !CLI_BIN || !PLUGIN_DIR) {
  console.error('TESSERA_HOST_BIN, TESSERA_CLI_BIN and TESSERA_PLUGIN_DIR must be set (ctest sets them)');
  process.exit(1);
}
if (!existsSync(join(PLUGIN_DIR, 'master_http.so'))) skip(`no master_http plugin in '${PLUGIN_DIR}'`);
if (!existsSync(CHROMIUM)) skip(`no chromium at '${CHROMIUM}' (scripts/setup.sh installs it)`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  skip('playwright-core is not installed here (tests/webui/npm_ci.sh installs it)');
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));
const dir = mkdtempSync(join(tmpdir(), 'tessera-webui-'));
const processes = [];

function start(name, args) {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  // With setpriv, a child gets SIGKILL when this test dies (even by SIGKILL from a ctest
  // timeout), so no host outlives it.
  const argv = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...args] : args;
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  const keep = (chunk) => {
    child.output += chunk;
    writeFileSync(log, chunk, { flag: 'a' });
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((resolve) => child.on('exit', resolve));
  child.label = name;
  processes.push(child);
  return child;
}

// Tasks run in sessions of their own and may outlive a host that was killed: they are found by
// their sandbox, which lies in this test's directory (TESSERA_SANDBOX in their environment).
function killLeftoverTasks() {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (environ.split('\0').some((v) => v.startsWith(`TESSERA_SANDBOX=${dir}/`))) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already, or not ours to read.
    }
  }
}

async function stopAll() {
  // Agents first (their tasks end with them: kill_on_stop), then the master; SIGKILL whatever
  // has not ended in 10 s.
  for (const child of [...processes].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await child.exited;
    clearTimeout(timer);
  }
}

async function until(what, probe, deadline = DEADLINE_MS) {
  const end = Date.now() + deadline;
  let last;
  while (Date.now() < end) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

function endpoints() {
  const file = join(dir, 'master.endpoints');
  if (!existsSync(file)) return {};
  const found = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = line.match(/^(\S+) = "([^"]*)"$/);
    if (m) found[m[1]] = m[2];
  }
  return found;
}

let base = '';
async function api(path, options = {}) {
  const response = await fetch(`${base}${path}`, options);
  const text = await response.text();
  if (!response.ok) throw new Error(`${options.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const send = (method, path, body) => api(path, {
  method, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' },
});

// A TCP port on loopback that was free a moment ago: master_http's TOML names the frameworks'
// HTTP addresses it proxies, so they cannot be port 0.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startCluster() {
  const marathon = `127.0.0.1:${await freePort()}`;
  const chronos = `127.0.0.1:${await freePort()}`;
  const masterToml = `[node]
name = "master"
roles = ["master"]
leader = "leader_standalone"
work_dir = "${dir}/master"
plugin_dirs = ["${PLUGIN_DIR}"]
endpoints_file = "${dir}/master.endpoints"
services = ["master_http"]
[master]
allocator = "allocator_drf"
endpoint = "tcp://127.0.0.1:0"
frameworks = ["framework_marathon", "framework_chronos"]
[plugins.allocator_drf]
allocation_interval_ms = 200
[plugins.master_http]
address = "127.0.0.1:0"
marathon = "${marathon}"
chronos = "${chronos}"
[plugins.framework_marathon]
http_address = "${marathon}"
[plugins.framework_chronos]
address = "${chronos}"
`;
  writeFileSync(join(dir, 'master.toml'), masterToml);
  start('master', [HOST_BIN, join(dir, 'master.toml')]);
}

function startAgent(index, masterEndpoint) {
  const name = `agent${index}`;
  const first = 31000 + index * 100;
  writeFileSync(join(dir, `${name}.toml`), `[node]
name = "${name}"
roles = ["agent"]
leader = "leader_standalone"
work_dir = "${dir}/${name}"
plugin_dirs = ["${PLUGIN_DIR}"]
[agent]
isolators = ["isolator_posix"]
hostname = "${name}"
resources = "cpus:4;mem:2048;disk:1024;ports:[${first}-${first + 99}]"
[plugins.leader_standalone]
master = "${masterEndpoint}"
[plugins.isolator_posix]
kill_on_stop = true
`);
  start(name, [HOST_BIN, join(dir, `${name}.toml`)]);
}

let browser;
let page;
const pageErrors = [];
const requests = [];

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

// The text of the first element matching `selector`, waited for until `accept` takes it.
async function waitText(what, selector, accept) {
  return until(what, async () => {
    const text = await page.locator(selector).first().textContent({ timeout: 1000 });
    return accept(text?.trim() ?? '') ? text.trim() : null;
  });
}

async function run() {
  mkdirSync(SHOTS, { recursive: true });
  await startCluster();
  const found = await until('the master and its HTTP API to announce their addresses', () => {
    const e = endpoints();
    const http = Object.entries(e).find(([k]) => k.startsWith('master_http.'));
    return e['master.endpoint'] && http && e['framework_marathon.http'] && e['framework_chronos.http'] ? e : null;
  });
  const httpAddress = Object.entries(found).find(([k]) => k.startsWith('master_http.'))[1];
  base = httpAddress.startsWith('http') ? httpAddress : `http://${httpAddress}`;
  const masterEndpoint = found['master.endpoint'];
  startAgent(0, masterEndpoint);
  startAgent(1, masterEndpoint);
  await until('both agents in /state', async () => (await api('/state')).slaves?.length === 2);
  // Marathon and Chronos subscribe at start; the master's HTTP API lists their proxied APIs in
  // /state's frameworks_http, and both answer through it once they have read their state.
  const state0 = await until('Marathon and Chronos subscribed', async () => {
    const state = await api('/state');
    const names = (state.frameworks ?? []).map((f) => f.name);
    return names.includes('marathon') && names.includes('chronos') ? state : null;
  });
  if (state0.frameworks_http?.marathon !== '/marathon' || state0.frameworks_http?.chronos !== '/chronos') {
    throw new Error(`/state's frameworks_http is ${JSON.stringify(state0.frameworks_http)}, not /marathon and /chronos`);
  }
  await until('Marathon to answer through the master', async () => (await api('/marathon/v2/apps')).apps !== undefined);
  await until('Chronos to answer through the master', async () => Array.isArray(await api('/chronos/v1/scheduler/jobs')));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => { if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`); });
  page.on('request', (request) => requests.push(request.url()));


  await page.goto(`${base}/`);
  await waitText('the overview to count 2 active agents', '#agents-active', (t) => t === '2');
  await waitText('the overview to count 0 active tasks', '#tasks-active', (t) => t === '0');
  await waitText('the live badge', '#connection', (t) => t === 'live');
  // Set in the page: still there at the end means the page was never reloaded.
  await page.evaluate(() => { window.webuiTestMarker = 'same page'; });
  await shot('overview-idle');

  // A task launched with the CLI appears without a reload, first on the overview.
  const marker = `hello from the webui test ${process.pid}`;
  const exec = start('exec', [CLI_BIN, 'exec', '--master', masterEndpoint, '--name', 'webui-echo',
    '--cpus', '0.5', '--mem', '32', '--', `echo '${marker}'; echo 'to stderr' >&2; sleep 300`]);
  await waitText('the overview to count the CLI task', '#tasks-active', (t) => t === '1');
  await waitText('the overview to show the allocated CPUs', '[data-resource="cpus"] td:nth-child(2)', (t) => t === '0.5');
  await shot('overview-task');

  // The tasks view lists it; a search narrows to it; its page tails its stdout.
  await page.click('a[data-nav="tasks"]');
  await waitText('the task in the tasks view', '#task-table tbody', (t) => t.includes('webui-echo'));
  await page.fill('#task-search', 'webui-echo');
  await page.selectOption('#task-state', 'TASK_RUNNING');
  await until('the search to leave one running task', async () =>
    (await page.locator('#task-table tbody tr').count()) === 1 &&
    (await page.locator('#task-range').textContent()) === '1–1 of 1');
  await shot('tasks');
  await page.click('#task-table tbody tr a');
  await waitText('the task detail', '#task-state', (t) => t.includes('RUNNING'));
  await waitText("the task's stdout tail", '#stdout', (t) => t.includes(marker));
  await waitText("the task's stderr tail", '#stderr', (t) => t.includes('to stderr'));
  await shot('task');

  // Marathon: an app posted with one instance, then scaled to three, seen scaling in the view.
  await page.click('a[data-nav="marathon"]');
  await send('POST', '/marathon/v2/apps', { id: '/webui-scale', cmd: 'sleep 300', cpus: 0.1, mem: 16, instances: 1 });
  const running = '[data-app="/webui-scale"] [data-field="running"]';
  await waitText('Marathon to run one instance', running, (t) => t === '1');
  await send('PUT', '/marathon/v2/apps/webui-scale', { instances: 3 });
  await waitText('the view to show 3 instances wanted', '[data-app="/webui-scale"] [data-field="instances"]', (t) => t === '3');
  await waitText('Marathon to run three instances', running, (t) => t === '3');
  await shot('marathon');

  // Chronos: a scheduled job and a dependent one, drawn as two boxes and an arrow.
  await send('POST', '/chronos/v1/scheduler/iso8601', { name: 'webui-parent', command: 'true', schedule: 'R/2099-01-01T00:00:00Z/PT1H', cpus: 0.1, mem: 16 });
  await send('POST', '/chronos/v1/scheduler/dependency', { name: 'webui-child', command: 'true', parents: ['webui-parent'], cpus: 0.1, mem: 16 });
  await page.click('a[data-nav="chronos"]');
  await until('the Chronos graph with both jobs and their edge', async () =>
    (await page.locator('#chronos-graph g[data-job]').count()) === 2 &&
    (await page.locator('#chronos-graph > path').count()) === 1);
  await waitText("the parent's schedule", 'tr[data-job="webui-parent"] td:nth-child(2)', (t) => t === 'R/2099-01-01T00:00:00Z/PT1H');
  await waitText("the child's trigger", 'tr[data-job="webui-child"] td:nth-child(2)', (t) => t === 'after webui-parent');
  // The parent started by hand runs, then the child it triggers: both runs counted in the view.
  await api('/chronos/v1/scheduler/job/webui-parent', { method: 'PUT' });
  await waitText('the parent to have run once', 'tr[data-job="webui-parent"] td:nth-child(5)', (t) => t === '1');
  await waitText('the child to have run after its parent', 'tr[data-job="webui-child"] td:nth-child(5)', (t) => t === '1');
  await shot('chronos');

  // Back on the overview: the CLI task and three Marathon instances, the count /state has.
  const expected = '4';
  await page.click('a[data-nav="overview"]');
  await waitText(`the overview to count ${expected} active tasks`, '#tasks-active', (t) => t === expected);
  const state = await api('/state');
  const active = state.frameworks.reduce((n, f) => n + f.tasks.length, 0);
  if (String(active) !== expected) throw new Error(`/state has ${active} active tasks, the overview ${expected}`);
  await shot('overview-busy');
  await page.click('a[data-nav="agents"]');
  await until('two agents in the agents view', async () => (await page.locator('tr[data-agent]').count()) === 2);
  await until(`the agents view to hold the ${expected} active tasks and their CPUs`, async () => {
    const rows = await page.locator('tr[data-agent]').evaluateAll((trs) => trs.map((tr) =>
      [Number(tr.lastElementChild.textContent), Number(tr.children[3].textContent.split('/')[0])]));
    const tasks = rows.reduce((n, [t]) => n + t, 0);
    const cpus = rows.reduce((n, [, c]) => n + c, 0);
    return String(tasks) === expected && Math.abs(cpus - 0.8) < 1e-9;
  });
  for (const view of ['agents', 'frameworks']) {
    await page.click(`a[data-nav="${view}"]`);
    await page.waitForSelector('main table', { timeout: DEADLINE_MS });
    await shot(view);
  }

  await page.click('a[data-nav="roles"]');
  // An operator sets a role's weight from the roles view; the table shows what the master took.
  await page.fill('#role-form [name="role"]', 'webui');
  await page.fill('#role-form [name="weight"]', '2.5');
  await page.click('#role-form button');
  await waitText('the new role weight in the roles view', '[data-role="webui"] td:nth-child(2)', (t) => t === '2.5');
  const roles = await api('/roles');
  const role = (Array.isArray(roles) ? roles : roles?.roles ?? []).find((r) => r.name === 'webui');
  if (role?.weight !== 2.5) throw new Error(`/roles has ${JSON.stringify(role)} for role 'webui'`);
  await shot('roles');

  if (await page.evaluate(() => window.webuiTestMarker) !== 'same page') throw new Error('the page was reloaded');
  // Offline: every request the page made went to the master (no CDN).
  const elsewhere = requests.filter((url) => !url.startsWith(`${base}/`));
  if (elsewhere.length) throw new Error(`the page asked other origins: ${elsewhere.join(', ')}`);
  // Live through /events: /state is fetched once per event stream opened (at most once more if
  // the stream was slow to open), never polled.
  const paths = requests.map((url) => new URL(url).pathname);
  const states = paths.filter((p) => p === '/state').length;
  const streams = paths.filter((p) => p === '/events').length;
  if (states === 0 || states > streams + 1) throw new Error(`the page fetched /state ${states} times over ${streams} event streams`);
  if (pageErrors.length) throw new Error(`errors in the page:\n${pageErrors.join('\n')}`);
  exec.kill('SIGTERM');
}

let failed = false;
try {
  await run();
  console.log(`PASS: screenshots in ${SHOTS}`);
} catch (error) {
  failed = true;
  console.error(`FAIL: ${error.stack ?? error}`);
  if (page) await page.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true }).catch(() => {});
  if (pageErrors.length) console.error(`page errors:\n${pageErrors.join('\n')}`);
  for (const child of processes) console.error(`--- ${child.label} (last 4 KB) ---\n${child.output.slice(-4096)}`);
} finally {
  await browser?.close().catch(() => {});
  await stopAll();
  killLeftoverTasks();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
