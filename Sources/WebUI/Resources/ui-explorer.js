// The Explorer view: who is connected where. Lists the fleet's users (getIds), connections
// (get_Ids) and groups (getGroupIds), filterable and capped; a click shows a detail panel
// (#user-detail, #connection-detail, #group-detail) asked from the API; and the Pusher apps
// with their occupied channels (#pusher-apps). Refreshed on show and by #explorer-refresh.

import { call, perNode } from './ui-api.js';
import { loadApps } from './ui-apps.js';
import { $, fmtClock, fmtDateTime, fmtInt, h, replace } from './ui-dom.js';
import { href } from './ui-router.js';
import { on } from './ui-store.js';

const CAP = 500; // items shown per list; the filter finds the others

const state = {
  users: [],        // [{ key, nodes: [node ids] }]
  connections: [],  // [{ key, nodes: [node id] }]
  groups: [],       // [{ key, nodes }]
  selected: null,   // { kind, key }
};

// --- lists ---------------------------------------------------------------------------------

/** Merges per-node arrays of ids into sorted [{ key, nodes }]. */
function merge(answer, event) {
  const byKey = new Map();
  for (const [node, result, timedOut] of perNode(answer, event)) {
    if (timedOut || !Array.isArray(result)) continue;
    for (const key of result) {
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(node);
    }
  }
  return [...byKey].map(([key, nodes]) => ({ key, nodes })).sort((a, b) => a.key.localeCompare(b.key));
}

const LISTS = {
  users: { kind: 'user', open: showUser },
  connections: { kind: 'connection', open: showConnection },
  groups: { kind: 'group', open: showGroup },
};

const rendered = {}; // list name -> signature of what it shows, to leave unchanged lists alone

function renderLists() {
  const query = $('explorer-filter').value.trim().toLowerCase();
  for (const [name, { kind, open }] of Object.entries(LISTS)) {
    const items = state[name];
    const matches = query ? items.filter((item) => item.key.toLowerCase().includes(query)) : items;
    $(`explorer-${name}-count`).textContent = query ? `${fmtInt(matches.length)} of ${fmtInt(items.length)}` : fmtInt(items.length);
    const shown = matches.slice(0, CAP);
    // Rebuilding an unchanged list would replace the buttons under the user's pointer.
    const signature = JSON.stringify([query, shown]);
    if (rendered[name] === signature) continue;
    rendered[name] = signature;
    const buttons = shown.map((item) => h('li', {},
      h('button', {
        type: 'button',
        class: 'item',
        title: `on ${item.nodes.join(', ')}`,
        dataset: { kind, key: item.key },
        onclick: () => open(item.key, item.nodes),
      }, item.key)));
    if (!matches.length) buttons.push(h('li', { class: 'muted small empty' }, query ? 'No match.' : 'None.'));
    replace($(`explorer-${name}`), buttons);
    const more = $(`explorer-${name}-more`);
    more.hidden = matches.length <= CAP;
    more.textContent = `${fmtInt(matches.length - CAP)} more not shown: narrow the filter.`;
  }
  markSelection();
}

/** Marks the selected item (aria-current) in place. */
function markSelection() {
  for (const button of document.querySelectorAll('.item-list button.item')) {
    const selected = state.selected?.kind === button.dataset.kind && state.selected.key === button.dataset.key;
    if (selected) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
  }
}

// --- details -------------------------------------------------------------------------------

/** Shows one detail panel (the others hidden) with the given content. */
function showDetail(id, ...content) {
  for (const other of ['user-detail', 'connection-detail', 'group-detail']) $(other).hidden = other !== id;
  $('detail-empty').hidden = true;
  replace($(id), content);
}

/** Brings the detail panel into view (on narrow screens it is below the lists). */
function reveal(id) {
  $(id).closest('.detail-card').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

let detailTicket = 0; // the latest detail asked for: answers to earlier clicks are dropped

/** Selects an item; returns a function telling whether it is still the selected one. */
function select(kind, key) {
  state.selected = { kind, key };
  markSelection();
  const ticket = ++detailTicket;
  return () => ticket === detailTicket;
}

const loading = () => h('p', { class: 'muted' }, 'Loading…');
const failed = (error) => h('p', { class: 'notice notice-err' }, `Could not load: ${error.message}`);

function nodeCell(node, timedOut) {
  return h('th', { scope: 'row' }, h('code', { class: 'node-id' }, node), timedOut ? h('span', { class: 'badge badge-err' }, 'timeout') : null);
}

function chips(values, open, mono = false) {
  if (!Array.isArray(values) || !values.length) return h('span', { class: 'muted' }, 'none');
  return h('span', { class: 'chips' }, values.map((value) =>
    h('button', { type: 'button', class: mono ? 'chip mono' : 'chip', onclick: () => open(value) }, value)));
}

function detailHead(kind, key, actions) {
  return h('div', { class: 'detail-head' },
    h('h2', {}, h('span', { class: 'muted' }, `${kind} `), h('span', { class: 'mono break' }, key)),
    h('div', { class: 'detail-actions' }, actions));
}

async function showUser(id) {
  const current = select('user', id);
  const sendLink = h('a', { class: 'btn btn-small', href: href('console', { target: 'user', to: id }) }, 'Send message');
  showDetail('user-detail', detailHead('User', id, sendLink), loading());
  reveal('user-detail');
  try {
    const answer = await call(['get_IdsById', 'getGroupIdsById'], { get_IdsById: { id }, getGroupIdsById: { id } });
    if (!current()) return;
    const groups = new Map(perNode(answer, 'getGroupIdsById').map(([node, result]) => [node, result]));
    const rows = perNode(answer, 'get_IdsById')
      .filter(([node, result, timedOut]) => timedOut || (Array.isArray(result) && result.length) || groups.get(node)?.length)
      .map(([node, result, timedOut]) => h('tr', {},
        nodeCell(node, timedOut),
        h('td', { 'data-label': 'Connections' }, timedOut ? '–' : chips(result, (cid) => showConnection(cid, [node]), true)),
        h('td', { 'data-label': 'Groups' }, timedOut ? '–' : chips(groups.get(node), showGroup))));
    showDetail('user-detail', detailHead('User', id, sendLink), rows.length
      ? h('table', { class: 'table table-cards' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Node'), h('th', { scope: 'col' }, 'Connections'), h('th', { scope: 'col' }, 'Groups'))),
        h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No connection of this user on any live node (it may have just left).'));
  } catch (error) {
    if (current()) showDetail('user-detail', detailHead('User', id, sendLink), failed(error));
  }
}

async function showConnection(cid, nodes = []) {
  const current = select('connection', cid);
  const sendLink = h('a', { class: 'btn btn-small', href: href('console', { target: 'connection', to: cid }) }, 'Send message');
  showDetail('connection-detail', detailHead('Connection', cid, sendLink), loading());
  reveal('connection-detail');
  try {
    const answer = await call(['isOnline_Id', 'getGroupIdsBy_Id'], { isOnline_Id: { _id: cid }, getGroupIdsBy_Id: { _id: cid } });
    if (!current()) return;
    const online = perNode(answer, 'isOnline_Id').filter(([, result]) => result === true).map(([node]) => node);
    const groups = [...new Set(perNode(answer, 'getGroupIdsBy_Id').flatMap(([, result]) => (Array.isArray(result) ? result : [])))].sort();
    const timedOut = answer.extra ?? [];
    showDetail('connection-detail', detailHead('Connection', cid, sendLink),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Node'), h('dd', {}, online.length ? online.map((n) => h('code', { class: 'node-id' }, n)) : h('span', { class: 'muted' }, `offline${nodes.length ? ` (was on ${nodes.join(', ')})` : ''}`)),
        h('dt', {}, 'Groups'), h('dd', {}, chips(groups, showGroup)),
        timedOut.length ? [h('dt', {}, 'Timed out'), h('dd', {}, timedOut.join(', '))] : null));
  } catch (error) {
    if (current()) showDetail('connection-detail', detailHead('Connection', cid, sendLink), failed(error));
  }
}

async function showGroup(groupId) {
  const current = select('group', groupId);
  const sendLink = h('a', { class: 'btn btn-small', href: href('console', { target: 'group', to: groupId }) }, 'Send to group');
  showDetail('group-detail', detailHead('Group', groupId, sendLink), loading());
  reveal('group-detail');
  try {
    const answer = await call(['getGroupStats'], { getGroupStats: { groupId } });
    if (!current()) return;
    const nodes = perNode(answer, 'getGroupStats');
    const ok = nodes.filter(([, result, timedOut]) => !timedOut && result && typeof result === 'object');
    const total = (field) => ok.reduce((sum, [, result]) => sum + (Number(result[field]) || 0), 0);
    const created = ok.map(([, result]) => result.created_at).filter(Number.isFinite);
    showDetail('group-detail', detailHead('Group', groupId, sendLink),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Connections'), h('dd', {}, fmtInt(total('connections'))),
        h('dt', {}, 'Users'), h('dd', { title: 'Sum over the nodes' }, fmtInt(total('users'))),
        h('dt', {}, 'Created'), h('dd', {}, created.length ? fmtDateTime(Math.min(...created)) : '–')),
      h('table', { class: 'table table-cards' },
        h('thead', {}, h('tr', {}, ['Node', 'Connections', 'Users', 'Created'].map((c, i) => h('th', { scope: 'col', class: i === 1 || i === 2 ? 'num' : null }, c)))),
        h('tbody', {}, nodes.map(([node, result, timedOut]) => h('tr', {},
          nodeCell(node, timedOut),
          h('td', { class: 'num', 'data-label': 'Connections' }, timedOut ? '–' : fmtInt(result?.connections)),
          h('td', { class: 'num', 'data-label': 'Users' }, timedOut ? '–' : fmtInt(result?.users)),
          h('td', { 'data-label': 'Created' }, timedOut ? '–' : fmtDateTime(result?.created_at)))))));
  } catch (error) {
    if (current()) showDetail('group-detail', detailHead('Group', groupId, sendLink), failed(error));
  }
}

// --- Pusher apps ---------------------------------------------------------------------------

function renderApps(apps) {
  const entries = Object.entries(apps).sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }));
  if (!entries.length) return replace($('pusher-apps'), h('p', { class: 'muted' }, 'No Pusher app (PUSHER_ENABLED=false?).'));
  replace($('pusher-apps'), entries.map(([appId, app]) => {
    const channels = Object.entries(app.channels ?? {}).sort(([a], [b]) => a.localeCompare(b));
    return h('section', { class: 'app', 'aria-label': `Pusher app ${appId}`, dataset: { app: appId } },
      h('h3', {}, `App ${appId}`,
        h('span', { class: 'muted small' }, ` key `, h('code', {}, app.key ?? '?'), ` · ${fmtInt(app.connections)} connections · ${fmtInt(channels.length)} channels`),
        app.truncated ? h('span', { class: 'badge badge-warn' }, 'truncated') : null),
      channels.length
        ? h('table', { class: 'table table-cards' },
          h('thead', {}, h('tr', {}, ['Channel', 'Subscriptions', 'Users', 'Members'].map((c, i) => h('th', { scope: 'col', class: i === 1 || i === 2 ? 'num' : null }, c)))),
          h('tbody', {}, channels.map(([name, info]) => h('tr', {},
            h('th', { scope: 'row' }, h('code', { class: 'break' }, name)),
            h('td', { class: 'num', 'data-label': 'Subscriptions' }, fmtInt(info.subscription_count)),
            h('td', { class: 'num', 'data-label': 'Users' }, info.user_count === undefined ? '–' : fmtInt(info.user_count)),
            h('td', { 'data-label': 'Members' }, Array.isArray(info.users) && info.users.length
              ? h('span', { class: 'chips' }, info.users.map((u) => h('span', { class: 'chip chip-static' }, u)))
              : '–')))))
        : h('p', { class: 'muted small' }, 'No occupied channel.'));
  }));
}

// --- refresh -------------------------------------------------------------------------------

let refreshing = false;
let again = false; // a refresh was asked for while one ran: its answer may predate the ask

async function refresh() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  const button = $('explorer-refresh');
  // Not disabled while busy: that would drop the keyboard focus.
  button.setAttribute('aria-busy', 'true');
  button.textContent = 'Refreshing…';
  const notice = $('explorer-error');
  const [lists, apps] = await Promise.allSettled([call(['getIds', 'get_Ids', 'getGroupIds']), loadApps()]);
  const problems = [];
  if (lists.status === 'fulfilled') {
    const answer = lists.value;
    state.users = merge(answer, 'getIds');
    state.connections = merge(answer, 'get_Ids');
    state.groups = merge(answer, 'getGroupIds');
    renderLists();
    if (answer.extra?.length) problems.push(`Timed out (their entries are missing): ${answer.extra.join(', ')}.`);
    $('explorer-updated').textContent = `updated ${fmtClock()}`;
  } else {
    problems.push(`Lists: ${lists.reason.message}`);
  }
  if (apps.status === 'fulfilled') renderApps(apps.value);
  else replace($('pusher-apps'), h('p', { class: 'notice notice-err' }, `Pusher channels unavailable: ${apps.reason.message}`));
  notice.textContent = problems.join(' ');
  notice.hidden = !problems.length;
  button.removeAttribute('aria-busy');
  button.textContent = 'Refresh';
  refreshing = false;
  if (again) {
    again = false;
    refresh();
  }
}

export function initExplorer() {
  $('explorer-refresh').addEventListener('click', refresh);
  let debounce = null;
  $('explorer-filter').addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(renderLists, 80);
  });
  renderLists();
  // A token was just given (after a 401): load what the refused request could not.
  on('token', () => { if (!$('view-explorer').hidden) refresh(); });
  return {
    show: refresh,
    hide() {},
  };
}
