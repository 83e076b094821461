// The Console view: sends a message through the event API to a user, a connection, group(s),
// everyone, or a Pusher channel, and shows the answer per node (#console-result) and raw
// (#console-raw). Can be opened prefilled: #/console?target=user&to=alice.

import { call, perNode } from './ui-api.js';
import { knownApps, loadApps } from './ui-apps.js';
import { $, fmtInt, fmtResult, h, replace } from './ui-dom.js';
import { on } from './ui-store.js';

const TARGETS = {
  user: { event: 'sendMessageToId', param: 'id', label: 'User id', placeholder: 'alice' },
  connection: { event: 'sendMessageTo_Id', param: '_id', label: 'Connection _id', placeholder: '32 hex digits' },
  group: { event: 'sendToGroup', param: 'groupId', label: 'Group(s), comma-separated', placeholder: 'room:lobby, vip' },
  everyone: { event: 'broadcast' },
  pusher: { event: 'triggerPusherEvent' },
};

let sending = false;

function target() {
  return TARGETS[$('console-target').value] ? $('console-target').value : 'user';
}

/** Shows the fields the selected target needs. */
function syncFields() {
  const name = target();
  const spec = TARGETS[name];
  $('console-to-field').hidden = !spec.param;
  $('console-to-label').textContent = spec.label ?? '';
  $('console-to').placeholder = spec.placeholder ?? '';
  $('console-pusher-fields').hidden = name !== 'pusher';
  $('console-message-label').textContent = name === 'pusher' ? 'Event data (string)' : 'Message';
  if (name === 'pusher') loadApps().catch(() => {}); // the list of apps; errors show in the banner
}

function fillApps(apps) {
  const select = $('console-app');
  const current = select.value;
  const ids = Object.keys(apps).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  replace(select, ids.length
    ? ids.map((id) => h('option', { value: id }, `${id} (${apps[id].key ?? 'no key'})`))
    : h('option', { value: '' }, 'no app'));
  if (ids.includes(current)) select.value = current;
}

/** The request for the form's values, or throws an Error with what is missing. */
function buildRequest() {
  const name = target();
  const spec = TARGETS[name];
  const msg = $('console-message').value;
  if (name === 'pusher') {
    const appId = $('console-app').value;
    const channel = $('console-channel').value.trim();
    const eventName = $('console-event').value.trim();
    if (!appId) throw Object.assign(new Error('Choose a Pusher app (none is known yet).'), { field: 'console-app' });
    if (!channel) throw Object.assign(new Error('Enter a channel name.'), { field: 'console-channel' });
    if (!eventName) throw Object.assign(new Error('Enter an event name.'), { field: 'console-event' });
    return { name, event: spec.event, params: { appId, channel, name: eventName, msg } };
  }
  const params = { msg };
  if (spec.param) {
    const to = $('console-to').value.trim();
    if (!to) throw Object.assign(new Error(`Enter the ${spec.label.toLowerCase()}.`), { field: 'console-to' });
    params[spec.param] = to;
  }
  return { name, event: spec.event, params };
}

/** One sentence about the answer. */
function summary(name, rows) {
  const ok = rows.filter(([, , timedOut]) => !timedOut);
  const total = ok.reduce((sum, [, result]) => sum + (typeof result === 'number' ? result : 0), 0);
  switch (name) {
    case 'user':
      return total ? `Delivered on ${total} node${total > 1 ? 's' : ''}.` : 'No connection of this user took it (offline; an away session records it for its replay).';
    case 'connection':
      return total ? 'Delivered to the connection.' : 'The connection did not take it (unknown, closed, or its queue is full).';
    case 'pusher': {
      const published = ok.filter(([, result]) => result?.published === true).length;
      return published ? 'Published.' : 'Not published.';
    }
    default:
      return `Reached ${fmtInt(total)} connection${total === 1 ? '' : 's'}.`;
  }
}

function renderAnswer(request, answer) {
  const rows = perNode(answer, request.event);
  const timedOut = rows.filter(([, , t]) => t);
  replace($('console-result'),
    h('p', { class: 'result-summary' }, summary(request.name, rows)),
    timedOut.length
      ? h('p', { class: 'notice notice-warn' }, `${timedOut.length} node${timedOut.length > 1 ? 's' : ''} timed out: the message may still have been delivered there.`)
      : null,
    h('table', { class: 'table table-cards' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, request.name === 'pusher' ? 'App' : 'Node'), h('th', { scope: 'col' }, 'Result'))),
      h('tbody', {}, rows.map(([node, result, isTimedOut]) => h('tr', { class: isTimedOut ? 'timeout' : null, dataset: { node } },
        h('th', { scope: 'row' }, h('code', { class: 'node-id' }, node)),
        h('td', { 'data-label': 'Result' }, isTimedOut ? h('span', { class: 'badge badge-err' }, 'timeout') : h('code', {}, fmtResult(result))))))));
  $('console-raw').textContent = JSON.stringify(answer, null, 2);
}

function renderError(error) {
  replace($('console-result'), h('p', { class: 'notice notice-err' }, `Not sent: ${error.message}`));
  $('console-raw').textContent = error.body ? JSON.stringify(error.body, null, 2) : '';
}

async function submit(event) {
  event.preventDefault();
  if (sending) return;
  const formError = $('console-form-error');
  let request;
  try {
    request = buildRequest();
    formError.hidden = true;
  } catch (error) {
    formError.textContent = error.message;
    formError.hidden = false;
    if (error.field) $(error.field).focus();
    return;
  }
  sending = true;
  const button = $('console-send');
  button.setAttribute('aria-busy', 'true');
  button.textContent = 'Sending…';
  try {
    renderAnswer(request, await call([request.event], { [request.event]: request.params }));
  } catch (error) {
    renderError(error);
  } finally {
    sending = false;
    button.removeAttribute('aria-busy');
    button.textContent = 'Send';
  }
}

export function initConsole() {
  $('console-form').addEventListener('submit', submit);
  $('console-target').addEventListener('change', syncFields);
  $('console-message').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $('console-form').requestSubmit();
    }
  });
  on('apps', fillApps);
  fillApps(knownApps());
  syncFields();
  return {
    show(params) {
      const wanted = params.get('target');
      if (wanted && TARGETS[wanted]) $('console-target').value = wanted;
      if (params.has('to')) $('console-to').value = params.get('to');
      syncFields();
    },
    hide() {},
  };
}
