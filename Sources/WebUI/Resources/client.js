// wscenter native protocol client: a dependency-free ES module for browsers (and Node.js,
// given a WebSocket class). The protocol is described in docs/protocol.md.
//
//   import { WSCenter } from 'http://node:8090/client.js';
//   const client = new WSCenter(['ws://a:8090/', 'ws://b:8090/'], { token: 'secret' });
//   client.on('message', (data, raw) => console.log(data));
//   await client.join('room:lobby');
//   await client.broadcast('room:lobby', { text: 'hi' });
//
// After a drop the client reconnects (exponential backoff with full jitter) and resumes its
// session with the latest reconnect token: the node restores its user id and rooms, then
// replays the messages sent while it was away. With several URLs, an attempt that fails moves
// on to the next URL, so a session whose node is gone resumes on another node of the fleet.
//
// Events: 'state' (state), 'open' ({ id, resumed }), 'resumed' ({ missed, id, previousId }),
// 'message' (data, raw, { replayed }), 'frame' ({ direction, text }), 'error' (err),
// and extras: 'connecting' ({ url }) at each attempt, 'gap' ({ reason, dropped }) when a
// resume's replay is incomplete (replay_truncated), 'close' ({ code, reason, retryIn }).

// Server messages that answer a client message (one reply per message, in order).
const REPLY_TYPES = new Set(['joined', 'left', 'pong', 'broadcast_sent', 'reconnected', 'error']);
const OPEN = 1; // WebSocket.OPEN

export class WSCenter {
  /** Connection _id of the current connection (null while disconnected). */
  id = null;
  /** 'connecting' | 'open' | 'reconnecting' | 'closed' */
  state = 'connecting';

  #url;
  #token;
  #minDelay;
  #maxDelay;
  #WebSocket;
  #listeners = new Map();
  #ws = null;
  #urlIndex = 0;        // which URL of a list the next attempt uses
  #attempt = 0;         // failed attempts since the last open: drives the backoff
  #timer = null;        // pending reconnect
  #stopped = false;     // close() was called
  #pending = [];        // { resolve, reject } of the messages sent and not yet answered, oldest first
  #greeted = false;     // the current socket received its {"cmd":"open"}
  #resuming = false;    // a {"type":"reconnect"} was sent on this socket and is not answered yet
  #resumeToken = null;  // the session to resume after a drop (latest settled reconnect_token)
  #nextToken = null;    // this socket's own token, adopted once its resume is answered
  #replaying = 0;       // messages still to come from a resume's replay
  #afterResume = false; // the next message may be a replay_truncated notice

  /**
   * @param {string|string[]|function(): (string|string[])} url node URL(s), e.g. 'ws://host:8090/'
   * @param {{token?: string, minDelay?: number, maxDelay?: number, WebSocket?: Function}} [options]
   */
  constructor(url, options = {}) {
    this.#url = url;
    this.#token = options.token || null;
    this.#minDelay = Math.max(0, options.minDelay ?? 500);
    this.#maxDelay = Math.max(this.#minDelay, options.maxDelay ?? 10000);
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function') throw new TypeError('WSCenter: no WebSocket class (pass options.WebSocket)');
    // Connect on the next microtask, so that listeners added right after `new` see 'connecting'.
    queueMicrotask(() => {
      if (this.#stopped) return;
      this.#emit('state', this.state);
      this.#connect();
    });
  }

  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return this;
  }

  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
    return this;
  }

  /** Joins a room: resolves with {"type":"joined",...}, rejects on an error reply. */
  join(room) {
    return this.send({ type: 'join', room });
  }

  leave(room) {
    return this.send({ type: 'leave', room });
  }

  /** Sends `data` (any JSON value) to the other members of `room`; resolves with broadcast_sent. */
  broadcast(room, data, { excludeSelf = true } = {}) {
    const command = { type: 'broadcast', room, data };
    if (!excludeSelf) command.exclude_self = false;
    return this.send(command);
  }

  ping() {
    return this.send({ type: 'ping' });
  }

  /**
   * Sends a command (an object, sent as JSON, or a string sent verbatim) and resolves with its
   * reply. Error replies reject with an Error whose `code` and `reply` come from the node.
   */
  send(command) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) return Promise.reject(Object.assign(new Error('not connected'), { code: 'not_connected' }));
    const text = typeof command === 'string' ? command : JSON.stringify(command);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#write(ws, text);
    });
  }

  /** Closes the connection for good: no more reconnects. */
  close() {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    this.id = null;
    this.#rejectPending(Object.assign(new Error('closed by the client'), { code: 'closed' }));
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try { ws.close(1000); } catch { /* already closing */ }
    }
    this.#setState('closed');
  }

  // --- internals -------------------------------------------------------------------------

  #emit(event, ...args) {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        // A listener's bug must not break the protocol state: report it out of band.
        setTimeout(() => { throw err; });
      }
    }
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.#emit('state', state);
  }

  #rejectPending(err) {
    for (const p of this.#pending.splice(0)) p.reject(err);
  }

  #write(ws, text) {
    ws.send(text);
    this.#emit('frame', { direction: 'out', text });
  }

  // The URL of the next attempt, without and with the credential (?token= is the only way a
  // browser can send one on a WebSocket).
  #target() {
    const value = typeof this.#url === 'function' ? this.#url() : this.#url;
    const list = (Array.isArray(value) ? value : [value]).filter(Boolean);
    if (!list.length) throw new TypeError('WSCenter: no URL');
    const base = String(list[this.#urlIndex % list.length]);
    if (!this.#token) return { base, full: base };
    const url = new URL(base);
    url.searchParams.set('token', this.#token);
    return { base, full: url.href };
  }

  #connect() {
    this.#timer = null;
    if (this.#stopped) return;
    let target, ws;
    try {
      target = this.#target();
      ws = new this.#WebSocket(target.full);
    } catch (err) {
      this.#emit('error', err);
      this.#urlIndex++;
      this.#retry(0, String(err.message ?? err));
      return;
    }
    this.#emit('connecting', { url: target.base });
    this.#ws = ws;
    this.#greeted = false;
    this.#resuming = false;
    this.#nextToken = null;
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      // Resume the previous session first, before any other command, so that its user id and
      // rooms are restored and the messages missed meanwhile are replayed.
      const token = this.#resumeToken;
      if (!token) return;
      this.#resuming = true;
      this.#pending.push({
        resolve: (reply) => this.#settle(reply),
        reject: (err) => { if (err.reply) this.#settle(err.reply); },
      });
      this.#write(ws, JSON.stringify({ type: 'reconnect', token }));
    };
    ws.onmessage = (event) => this.#receive(ws, event.data);
    ws.onerror = () => {
      if (ws !== this.#ws) return;
      const what = this.#greeted ? `WebSocket error on ${target.base}` : `cannot connect to ${target.base}`;
      this.#emit('error', Object.assign(new Error(what), { code: 'socket_error', url: target.base }));
    };
    ws.onclose = (event) => this.#closed(ws, event);
  }

  // The session is settled: a fresh connection (reply null), or a resume answered by `reply`
  // (reconnected; or reconnect_failed / unavailable: then this connection is a new session).
  #settle(reply) {
    this.#resuming = false;
    if (this.#nextToken) this.#resumeToken = this.#nextToken;
    this.#nextToken = null;
    const resumed = reply?.type === 'reconnected';
    this.#setState('open');
    this.#emit('open', { id: this.id, resumed });
    if (resumed) {
      this.#replaying = Math.max(0, Number(reply.missed) || 0);
      this.#afterResume = true;
      this.#emit('resumed', { missed: reply.missed ?? 0, id: this.id, previousId: reply.previous_id ?? null });
    }
  }

  #receive(ws, data) {
    if (ws !== this.#ws || typeof data !== 'string') return; // binary frames are not part of the protocol
    this.#emit('frame', { direction: 'in', text: data });
    let value;
    let parsed = true;
    try { value = JSON.parse(data); } catch { parsed = false; }
    const obj = parsed && value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;

    // Right after `reconnected`: at most one replay_truncated notice, then `missed` replayed
    // messages, which are application messages whatever they contain.
    if (this.#afterResume) {
      this.#afterResume = false;
      if (obj?.type === 'replay_truncated') {
        this.#emit('gap', { reason: obj.reason ?? 'unknown', dropped: obj.dropped ?? null });
        return;
      }
    }
    if (this.#replaying > 0) {
      this.#replaying--;
      this.#emit('message', parsed ? value : data, data, { replayed: true });
      return;
    }
    if (obj?.cmd === 'open' && !this.#greeted && typeof obj._id === 'string') {
      this.#greeted = true;
      this.#attempt = 0;
      this.id = obj._id;
      if (!this.#resuming) this.#settle(null);
      return;
    }
    if (obj?.type === 'reconnect_token' && typeof obj.token === 'string') {
      // Keep the latest token; while a resume is in flight, the old one is still the one to
      // retry with if this socket drops before the answer.
      if (this.#resuming) this.#nextToken = obj.token;
      else this.#resumeToken = obj.token;
      return;
    }
    if (obj && (REPLY_TYPES.has(obj.type) || obj.cmd === 'pong') && this.#pending.length) {
      const pending = this.#pending.shift();
      if (obj.type === 'error') {
        const err = Object.assign(new Error(`${obj.code}: ${obj.message}`), { code: obj.code, reply: obj });
        this.#emit('error', err);
        pending.reject(err);
      } else {
        pending.resolve(obj);
      }
      return;
    }
    this.#emit('message', parsed ? value : data, data, { replayed: false });
  }

  #closed(ws, event) {
    if (ws !== this.#ws) return;
    this.#ws = null;
    this.id = null;
    this.#replaying = 0;
    this.#afterResume = false;
    this.#resuming = false;
    this.#nextToken = null;
    const code = event?.code ?? 1006;
    const reason = event?.reason ?? '';
    this.#rejectPending(Object.assign(new Error(`connection closed (${code}${reason ? ` ${reason}` : ''})`), { code: 'closed', closeCode: code }));
    if (this.#stopped) return this.#setState('closed');
    // A node that never greeted us is down or refused us: the next attempt tries the next URL.
    // After a drop the same node is tried first (it may have been a network blip).
    if (!this.#greeted) this.#urlIndex++;
    this.#retry(code, reason);
  }

  #retry(code, reason) {
    // Exponential backoff with full jitter: a random delay between minDelay and the cap.
    const cap = Math.min(this.#maxDelay, this.#minDelay * 2 ** Math.min(this.#attempt++, 30));
    const delay = Math.round(this.#minDelay + Math.random() * (cap - this.#minDelay));
    this.#setState('reconnecting');
    this.#emit('close', { code, reason, retryIn: delay });
    this.#timer = setTimeout(() => this.#connect(), delay);
  }
}

export default WSCenter;
