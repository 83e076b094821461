// A bare Pusher protocol client for the tester (protocol 7, no reconnect): it reads
// pusher:connection_established (socket_id), answers pusher:ping with pusher:pong, and
// subscribes/unsubscribes channels. private- and presence- channels are signed by the
// gateway's demo endpoint POST /pusher/auth when it is on (AUTH_DEMO=true).
// Same events as WSCenter: 'state', 'open' ({ id }), 'frame', 'error', 'close'.

export class PusherSocket {
  state = 'connecting';
  id = null; // socket_id
  #ws;
  #listeners = new Map();

  constructor(url) {
    queueMicrotask(() => {
      this.#emit('state', this.state);
      this.#emit('connecting', { url });
      try {
        this.#ws = new WebSocket(url);
      } catch (err) {
        this.#emit('error', err);
        this.#setState('closed');
        return;
      }
      this.#ws.onmessage = (event) => this.#receive(event.data);
      this.#ws.onerror = () => this.#emit('error', new Error(`cannot connect to ${url}`));
      this.#ws.onclose = (event) => {
        this.id = null;
        this.#emit('close', { code: event.code, reason: event.reason, retryIn: null });
        this.#setState('closed');
      };
    });
  }

  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return this;
  }

  #emit(event, ...args) {
    for (const fn of this.#listeners.get(event) ?? []) fn(...args);
  }

  #setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.#emit('state', state);
  }

  /** Sends a text frame as is. */
  sendRaw(text) {
    if (this.#ws?.readyState !== WebSocket.OPEN) throw new Error('not connected');
    this.#ws.send(text);
    this.#emit('frame', { direction: 'out', text });
  }

  #sendEvent(event, data) {
    this.sendRaw(JSON.stringify({ event, data }));
  }

  async subscribe(channel) {
    if (!this.id) throw new Error('not connected');
    const data = { channel };
    if (/^(private-|presence-)/.test(channel)) {
      // Signed by the gateway's demo endpoint (same origin as the console), when it is on.
      const response = await fetch('/pusher/auth', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ socket_id: this.id, channel_name: channel }),
        credentials: 'omit',
      });
      if (!response.ok) throw new Error(`POST /pusher/auth answered ${response.status}: private and presence channels need AUTH_DEMO=true on the gateway`);
      const auth = await response.json();
      data.auth = auth.auth;
      if (auth.channel_data) data.channel_data = auth.channel_data;
    }
    this.#sendEvent('pusher:subscribe', data);
  }

  unsubscribe(channel) {
    this.#sendEvent('pusher:unsubscribe', { channel });
  }

  close() {
    const ws = this.#ws;
    if (ws) {
      ws.onmessage = ws.onerror = ws.onclose = null;
      ws.close(1000);
    }
    this.id = null;
    this.#setState('closed');
  }

  #receive(text) {
    if (typeof text !== 'string') return;
    this.#emit('frame', { direction: 'in', text });
    let message;
    try { message = JSON.parse(text); } catch { return; }
    switch (message?.event) {
      case 'pusher:connection_established': {
        // `data` is a JSON string: {"socket_id":"123.456","activity_timeout":120}
        let data = message.data;
        try { if (typeof data === 'string') data = JSON.parse(data); } catch { data = {}; }
        this.id = data?.socket_id ?? null;
        this.#setState('open');
        this.#emit('open', { id: this.id, resumed: false });
        break;
      }
      case 'pusher:ping':
        this.#sendEvent('pusher:pong', {});
        break;
      case 'pusher:error':
        this.#emit('error', Object.assign(new Error(`pusher:error ${message.data?.code ?? ''} ${message.data?.message ?? ''}`.trim()), { reply: message }));
        break;
    }
  }
}
