// The Fleet view: polls getStats and getBroker every second (one request at a time, backing
// off on errors), keeps the #fleet-nodes table (one <tr data-node> per live node), the summary
// tiles, #redis-status and the #fleet-chart up to date, and publishes the snapshot ('fleet')
// for the other views. Polling goes on while other views are shown: the chart keeps its minute.

import { call } from './ui-api.js';
import { tokenChanged } from './ui-auth.js';
import { drawChart } from './ui-chart.js';
import { $, fmtClock, fmtInt, fmtMB, fmtRate, fmtUptime, h } from './ui-dom.js';
import { FleetHistory } from './ui-fleet-data.js';
import { on, set } from './ui-store.js';

const INTERVAL = 1000;        // ms between polls
const HIDDEN_INTERVAL = 5000; // while the tab is in the background
const MAX_BACKOFF = 10000;

const COLUMNS = [
  // [label (for the narrow card layout), class, value(row)]
  ['Address', '', (r) => r.stats?.address ?? '–'],
  ['Version', '', (r) => r.stats?.version ?? '–'],
  ['Uptime', '', (r) => fmtUptime(r.stats?.uptime)],
  ['Conns', 'num', (r) => fmtInt(r.stats?.connections)],
  ['Users', 'num', (r) => fmtInt(r.stats?.users)],
  ['Rooms', 'num', (r) => fmtInt(r.stats?.rooms)],
  ['In/s', 'num', (r) => fmtRate(r.rateIn)],
  ['Out/s', 'num', (r) => fmtRate(r.rateOut)],
  ['Memory', 'num', (r) => (r.stats ? fmtMB(r.stats.memory ?? NaN) : '–')],
];

const history = new FleetHistory(60000);
const rowsById = new Map(); // node id -> <tr>
let lastRows = [];
let withBroker = true;      // false if this gateway does not know getBroker
const departed = new Map(); // node id -> when it left master_ids (shown for a while)
const DEPARTED_MS = 5 * 60000;

function sleep(ms) {
  // Wakes early on 'retry' (the banner's button) and 'token' (a new token was given).
  return new Promise((resolve) => {
    const offs = [];
    const done = () => { clearTimeout(timer); offs.forEach((off) => off()); resolve(); };
    const timer = setTimeout(done, ms);
    offs.push(on('retry', done), on('token', done));
  });
}

function rowFor(row) {
  let tr = rowsById.get(row.id);
  if (!tr) {
    tr = h('tr', { dataset: { node: row.id } },
      h('th', { scope: 'row' }, h('span', { class: 'node-cell' },
        h('span', { class: `swatch series-${row.color}`, 'aria-hidden': 'true' }),
        h('code', { class: 'node-id' }, row.id),
        h('span', { class: 'badge badge-err', hidden: true }, 'timeout'))),
      COLUMNS.map(([label, cls]) => h('td', { class: cls, 'data-label': label })));
    rowsById.set(row.id, tr);
  }
  return tr;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text; // untouched cells keep a text selection
}

function renderTable(rows) {
  const body = $('fleet-nodes-body');
  const live = new Set(rows.map((r) => r.id));
  for (const [id, tr] of rowsById) {
    if (!live.has(id)) { tr.remove(); rowsById.delete(id); }
  }
  body.querySelector('.empty-row')?.remove();
  rows.forEach((row, index) => {
    const tr = rowFor(row);
    tr.classList.toggle('timeout', row.timedOut);
    tr.querySelector('.badge').hidden = !row.timedOut;
    const cells = tr.querySelectorAll('td');
    COLUMNS.forEach(([, , value], i) => {
      // A node that timed out keeps its address (known from earlier); its badge says "timeout".
      const text = row.timedOut ? (i === 0 ? (lastAddress(row.id) ?? '–') : '–') : value(row);
      setText(cells[i], text);
    });
    if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] ?? null);
  });
  if (!rows.length) {
    body.append(h('tr', { class: 'empty-row' }, h('td', { colspan: COLUMNS.length + 1, class: 'muted' }, 'No live node.')));
  }
}

function lastAddress(id) {
  return lastRows.find((r) => r.id === id && r.stats)?.stats.address;
}

function renderSummary(rows, answer) {
  const ok = rows.filter((r) => !r.timedOut);
  const sum = (f) => ok.reduce((total, r) => total + (Number(f(r)) || 0), 0);
  const timedOut = rows.length - ok.length;
  setText($('sum-nodes'), `${rows.length}${timedOut ? ` (${timedOut} timeout)` : ''}`);
  setText($('sum-connections'), fmtInt(sum((r) => r.stats.connections)));
  setText($('sum-users'), fmtInt(sum((r) => r.stats.users)));
  setText($('sum-rooms'), fmtInt(sum((r) => r.stats.rooms)));
  setText($('sum-rates'), `${fmtRate(sum((r) => r.rateIn))} · ${fmtRate(sum((r) => r.rateOut))}`);
  $('sum-users').title = $('sum-rooms').title = 'Sum over the nodes: a user or room present on two nodes counts twice';

  // Nodes that left master_ids (stopped, or their heartbeat expired) are named for a while.
  const now = Date.now();
  for (const old of lastRows) if (!rows.some((r) => r.id === old.id)) departed.set(old.id, now);
  for (const [id, at] of departed) if (rows.some((r) => r.id === id) || now - at > DEPARTED_MS) departed.delete(id);
  const gone = [...departed].map(([id, at]) => `${id} (${fmtClock(new Date(at))})`);

  const warning = $('fleet-warning');
  const extra = answer.extra ?? [];
  if (extra.length) {
    warning.textContent = `${extra.length} node${extra.length > 1 ? 's' : ''} did not answer within the call timeout: ${extra.join(', ')}. Their figures are missing from the totals.`;
    warning.hidden = false;
  } else if (!rows.length) {
    warning.textContent = 'No live node: no node has a current heartbeat in the broker.';
    warning.hidden = false;
  } else {
    warning.hidden = true;
  }
  const left = $('fleet-departed');
  left.textContent = gone.length ? `Left the fleet: ${gone.join(', ')}` : '';
  left.hidden = !gone.length;
}

function renderBroker(answer, error) {
  const el = $('redis-status');
  if (error) {
    el.dataset.level = error.kind === 'broker' ? 'err' : 'pending';
    setText(el, error.kind === 'broker' ? 'unreachable (503)' : 'unknown');
    el.title = error.message;
    return;
  }
  const entries = Object.entries(answer?.data?.getBroker ?? {});
  if (!entries.length) {
    el.dataset.level = 'pending';
    setText(el, withBroker ? '–' : 'not reported');
    return;
  }
  const [gateway, broker] = entries[0];
  const latency = Number.isFinite(broker.latency_ms) ? `${broker.latency_ms.toFixed(2)} ms` : null;
  const parts = [broker.kind ?? 'broker', broker.connected ? 'connected' : 'disconnected', latency ?? broker.error].filter(Boolean);
  el.dataset.level = broker.connected ? 'ok' : 'err';
  setText(el, parts.join(' · '));
  el.title = `As seen by gateway ${gateway}${broker.error ? `: ${broker.error}` : ''}`;
}

function redraw() {
  drawChart($('fleet-chart'), history.series(), Date.now());
}

function render(answer, t) {
  const rows = history.update(answer, t);
  renderTable(rows);
  renderSummary(rows, answer);
  renderBroker(answer, null);
  lastRows = rows.map((r) => (r.stats ? r : lastRows.find((old) => old.id === r.id && old.stats) ?? r));
  $('fleet-nodes').classList.remove('stale');
  setText($('fleet-updated'), `updated ${fmtClock()}`);
  redraw();
  set('fleet', { rows: lastRows, masterIds: answer.master_ids ?? [], extra: answer.extra ?? [], at: t });
}

function renderFailure(error) {
  $('fleet-nodes').classList.add('stale');
  const updated = $('fleet-updated');
  if (!lastRows.length && !history.series().length) setText(updated, 'no data yet');
  else if (!updated.textContent.startsWith('stale')) setText(updated, `stale since ${fmtClock()}`);
  renderBroker(null, error);
  redraw();
}

async function poll() {
  let failures = 0;
  for (;;) {
    const started = Date.now();
    let wait = document.hidden ? HIDDEN_INTERVAL : INTERVAL;
    try {
      const answer = await call(withBroker ? ['getStats', 'getBroker'] : ['getStats']);
      failures = 0;
      render(answer, Date.now());
    } catch (error) {
      if (error.kind === 'bad' && withBroker && /getBroker/.test(error.message)) {
        withBroker = false; // an older gateway: poll getStats alone
        continue;
      }
      renderFailure(error);
      if (error.kind === 'auth') {
        await tokenChanged(); // the dialog is open: nothing to do until a token is given
        continue;
      }
      failures++;
      wait = Math.min(MAX_BACKOFF, INTERVAL * 2 ** failures);
    }
    await sleep(Math.max(0, wait - (Date.now() - started)));
  }
}

export function initFleet() {
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(redraw, 100);
  });
  poll();
  // The time axis slides every second even while polls fail or back off.
  setInterval(() => { if (!document.hidden) redraw(); }, 1000);
  return {
    show() { requestAnimationFrame(redraw); }, // it had no width while hidden
    hide() {},
  };
}
