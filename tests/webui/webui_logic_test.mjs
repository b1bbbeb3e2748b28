// Unit tests of the web UI's pure logic, in node without a browser: escaping, units, and the
// Chronos dependency graph's layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const assets = join(dirname(fileURLToPath(import.meta.url)), '../../plugins/master_http/webui/assets');
const { esc, mib, number, resources } = await import(join(assets, 'format.js'));
const { graph } = await import(join(assets, 'views/chronos.js'));

test('esc leaves no markup from the master in the page', () => {
  assert.equal(esc(`<img src=x onerror="a('b')">&`), '&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;');
  assert.equal(esc(undefined), '');
  assert.equal(esc(0), '0');
});

test('amounts read as a person would', () => {
  assert.equal(mib(512), '512 MiB');
  assert.equal(mib(1536), '1.5 GiB');
  assert.equal(number(0.1 + 0.2), '0.3');
  assert.equal(number(Number.NaN), '0');
  assert.equal(resources({ cpus: 0.5, mem: 32, disk: 0, ports: '[1-2]' }), 'cpus 0.5, mem 32 MiB, disk 0 MiB');
});

const nodes = new Map([['a', { last: 'success', current: 'idle' }], ['b', { last: 'failure', current: '1 running' }]]);
const boxes = (svg) => [...svg.matchAll(/<g data-job="([^"]*)">[\s\S]*?<rect x="(\d+)" y="(\d+)"/g)]
  .map(([, name, x, y]) => [name, Number(x), Number(y)]);

test('graph puts each job one column right of its deepest parent, with an arrow per parent', () => {
  const svg = graph([{ name: 'c', parents: ['a', 'b'] }, { name: 'b', parents: ['a'] }, { name: 'a', schedule: 'R/x/PT1H' }], nodes);
  const placed = Object.fromEntries(boxes(svg).map(([name, x]) => [name, x]));
  assert.ok(placed.a < placed.b && placed.b < placed.c, JSON.stringify(placed));
  assert.equal((svg.match(/marker-end/g) ?? []).length, 3);
  assert.match(svg, /fill="#c6f6d5"/);  // a's last run succeeded
  assert.match(svg, /stroke-width="2.5"/);  // b is running
});

test('graph escapes job names and ignores parents that do not exist', () => {
  const svg = graph([{ name: '<script>', parents: ['gone'] }], new Map());
  assert.ok(!svg.includes('<script>'));
  assert.equal((svg.match(/marker-end/g) ?? []).length, 0);
  assert.equal(boxes(svg).length, 1);
});

test('graph survives a cycle (which Chronos refuses) without hanging', () => {
  const svg = graph([{ name: 'x', parents: ['y'] }, { name: 'y', parents: ['x'] }], new Map());
  assert.equal(boxes(svg).length, 2);
});
