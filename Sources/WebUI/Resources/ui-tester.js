// The Tester view: a WebSocket client in the page, to watch a node from a client's side.
// Native: /client.js with every node URL of the list (the chosen one first), so that a session
// whose node stops resumes on another one; the reconnect delay is fixed (#tester-delay) so an
// operator can watch a resume happen. Pusher: a bare protocol-7 socket (ui-pusher.js).
// Every frame and state change goes to the log (#tester-log).

import { WSCenter } from '/client.js';
import { knownApps, loadApps } from './ui-apps.js';
import { $, h, replace } from './ui-dom.js';
import { FrameLog } from './ui-log.js';
import { PusherSocket } from './ui-pusher.js';
import { get, on } from './ui-store.js';

let client = null;   // WSCenter | PusherSocket
let log;
let lastSuggestions = [];
let autoFilled = false; // the URL field holds a suggestion we put there (not typed by the user)

const scheme = () => (location.protocol === 'https:' ? 'wss' : 'ws');
const protocol = () => $('tester-protocol').value;

/** The live nodes' addresses (host:port), from the fleet view's last getStats. */
function addresses() {
  const rows = get('fleet')?.rows ?? [];
  return [...new Set(rows.map((r) => r.stats?.address).filter(Boolean))];
}

/** The URLs to offer: one per live node's address, for the selected protocol. */
function suggestions() {
  let list = addresses();
  if (!list.length) list = [`${location.hostname}:8090`]; // the default port, until getStats says
  return urlsFor(list);
}

/** Node addresses as WebSocket URLs of the selected protocol (Pusher: the first app's key). */
function urlsFor(list) {
  if (protocol() === 'native') return list.map((a) => `${scheme()}://${a}/`);
  const key = Object.values(knownApps())[0]?.key ?? 'app-key';
  return list.map((a) => `${scheme()}://${a}/app/${encodeURIComponent(key)}?protocol=7&client=wscenter-ui&version=1`);
}

/**
 * Refreshes the datalist, and the URL field while it holds an outdated suggestion of ours
 * (never what the user typed, and never an empty field: the user cleared it to type).
 * force: the protocol changed, suggest again.
 */
function syncSuggestions(force = false) {
  const next = suggestions();
  const input = $('tester-url');
  const current = input.value.trim();
  const outdated = autoFilled && current && !next.includes(current) && document.activeElement !== input;
  if (force || outdated) {
    input.value = next[0] ?? '';
    autoFilled = true;
  }
  if (next.join('\n') !== lastSuggestions.join('\n')) {
    replace($('tester-urls'), next.map((url) => h('option', { value: url })));
  }
  lastSuggestions = next;
}

// Reconnect tokens are credentials: show only their start in the log.
const redact = (text) => text.replace(/("token"\s*:\s*")([0-9a-f]{8})[0-9a-f]{8,}"/gi, '$1$2…"');

function setState(state) {
  const el = $('tester-state');
  el.textContent = state;
  el.dataset.state = state;
  if (state !== 'open') $('tester-id').textContent = '–';
}

function wire(socket, isNative) {
  let previousState = 'connecting';
  socket.on('state', (state) => {
    if (socket !== client) return;
    setState(state);
    if (state === 'closed') log.add('info', 'closed');
    if (state !== 'open') previousState = state;
  });
  socket.on('connecting', ({ url }) => {
    if (socket === client) log.add('info', `connecting to ${url}`);
  });
  socket.on('open', ({ id, resumed }) => {
    if (socket !== client) return;
    $('tester-id').textContent = id ?? '–';
    if (!resumed) {
      const fresh = isNative && previousState === 'reconnecting' ? ' (new session: the previous one could not be resumed)' : '';
      log.add('info', `open, ${isNative ? '_id' : 'socket_id'} ${id}${fresh}`);
    }
    previousState = 'open';
  });
  socket.on('resumed', ({ missed, id, previousId }) => {
    if (socket === client) log.add('info', `resumed, missed ${missed} (previous _id ${previousId}, now ${id})`);
  });
  socket.on('gap', ({ reason, dropped }) => {
    if (socket === client) log.add('info', `replay incomplete: ${reason}${dropped === null ? '' : `, ${dropped} older messages dropped`}`, { error: true });
  });
  socket.on('close', ({ code, reason, retryIn }) => {
    if (socket !== client) return;
    const retry = retryIn === null || retryIn === undefined ? '' : `; reconnecting in ${retryIn} ms`;
    log.add('info', `connection closed (${code}${reason ? ` ${reason}` : ''})${retry}`, { error: code !== 1000 });
  });
  socket.on('frame', ({ direction, text }) => {
    if (socket === client) log.add(direction, redact(text));
  });
  socket.on('error', (err) => {
    // Error replies are in the log as frames already; show socket-level problems.
    if (socket === client && !err.reply) log.add('info', err.message, { error: true });
  });
}

function delay() {
  const value = Number($('tester-delay').value);
  return Number.isFinite(value) && value >= 0 ? Math.min(value, 600000) : 1000;
}

function connect(event) {
  event.preventDefault();
  const url = $('tester-url').value.trim();
  if (!/^wss?:\/\/.+/i.test(url)) {
    log.add('info', 'Enter a ws:// or wss:// URL.', { error: true });
    $('tester-url').focus();
    return;
  }
  disconnect();
  const native = protocol() === 'native';
  if (native) {
    // Every node of the fleet, the chosen one first: the client moves on when one is gone.
    // Read at each attempt, so that nodes that joined meanwhile (or were not known yet) count.
    const urls = () => [url, ...urlsFor(addresses()).filter((u) => u !== url)];
    const token = $('tester-token').value.trim();
    const ms = delay();
    client = new WSCenter(urls, { token: token || undefined, minDelay: ms, maxDelay: ms });
  } else {
    client = new PusherSocket(url);
  }
  wire(client, native);
  $('tester-disconnect').disabled = false;
  $('tester-connect').textContent = 'Reconnect';
}

function disconnect() {
  if (!client) return;
  const old = client;
  client = null;
  old.close();
  setState('closed');
  log.add('info', 'disconnected by the user');
  $('tester-disconnect').disabled = true;
  $('tester-connect').textContent = 'Connect';
}

/** Runs a command on the current client; failures other than error replies go to the log. */
async function run(action) {
  if (!client) {
    log.add('info', 'not connected: connect first', { error: true });
    return;
  }
  try {
    await action(client);
  } catch (err) {
    if (!err.reply) log.add('info', err.message, { error: true });
  }
}

function roomAction(join) {
  const room = $('tester-room').value.trim();
  if (!room) {
    $('tester-room').focus();
    return;
  }
  run((c) => (c instanceof PusherSocket ? (join ? c.subscribe(room) : c.unsubscribe(room)) : join ? c.join(room) : c.leave(room)));
}

function sendJson(event) {
  event.preventDefault();
  const text = $('tester-json').value;
  if (!text.trim()) return;
  run((c) => (c instanceof PusherSocket ? c.sendRaw(text) : c.send(text)));
}

export function initTester() {
  log = new FrameLog($('tester-log'), $('tester-filter'), $('tester-autoscroll'));
  const typed = () => { autoFilled = false; };
  $('tester-url').addEventListener('input', typed);
  $('tester-url').addEventListener('change', typed);
  $('tester-form').addEventListener('submit', connect);
  $('tester-disconnect').addEventListener('click', disconnect);
  $('tester-room-form').addEventListener('submit', (event) => { event.preventDefault(); roomAction(true); });
  $('tester-leave').addEventListener('click', () => roomAction(false));
  $('tester-send-form').addEventListener('submit', sendJson);
  $('tester-json').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $('tester-send-form').requestSubmit();
    }
  });
  $('tester-clear').addEventListener('click', () => log.clear());
  $('tester-protocol').addEventListener('change', () => {
    const pusher = protocol() === 'pusher';
    $('tester-room-label').textContent = pusher ? 'Channel' : 'Room';
    $('tester-json').value = pusher
      ? '{"event":"client-hello","channel":"private-demo","data":{"text":"hello"}}'
      : '{"type":"broadcast","room":"room:lobby","data":{"text":"hello"}}';
    if (pusher) loadApps().then(() => syncSuggestions(true), () => {});
    syncSuggestions(true);
  });
  on('fleet', () => syncSuggestions());
  on('apps', () => syncSuggestions());
  syncSuggestions(true);
  return {
    show() { syncSuggestions(); },
    hide() {},
  };
}
