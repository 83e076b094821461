// The event API of the gateway that serves this page (same origin): one function, call(),
// and the API token. The token is sent as `Authorization: Bearer` (never in the URL) and kept
// in sessionStorage, so that it lives as long as the tab.

const TOKEN_KEY = 'wscenter.token';
const TIMEOUT_MS = 12000; // CALL_TIMEOUT (2 s) + the broker's 1 s + slack; a gateway never takes longer

/** A failed call. kind: 'network' | 'auth' | 'broker' | 'bad' | 'http' */
export class ApiError extends Error {
  constructor(kind, status, message, body = null) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.body = body;
  }
}

const listeners = new Set();

/**
 * Observes every call's outcome: fn({ ok: true, answer }) or fn({ ok: false, error }).
 * The banner and the auth dialog use this; views just await call().
 */
export function onCall(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify(outcome) {
  for (const fn of listeners) fn(outcome);
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null; // storage disabled: the API must be open
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled */ }
}

/**
 * Runs events on the gateway: call(['getStats', 'getBroker']) or
 * call(['sendMessageToId'], { sendMessageToId: { id: 'alice', msg: 'hi' } }).
 * Resolves with the answer {code, msg, extra, master_ids, data}; rejects with an ApiError.
 */
export async function call(events, params = {}) {
  try {
    const answer = await request(events, params);
    notify({ ok: true, answer });
    return answer;
  } catch (error) {
    notify({ ok: false, error });
    throw error;
  }
}

async function request(events, params) {
  const token = getToken();
  try {
    return await send(events, params, token);
  } catch (error) {
    error.token = token; // lets the auth dialog ignore a 401 to a token already replaced
    throw error;
  }
}

async function send(events, params, token) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response, text;
  try {
    // Event names are plain identifiers: the comma list goes in the query as is.
    response = await fetch(`/?event=${events.join(',')}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(params),
      cache: 'no-store',
      credentials: 'omit',
      signal: controller.signal,
    });
    text = await response.text();
  } catch (err) {
    const why = err.name === 'AbortError' ? `no answer within ${TIMEOUT_MS / 1000} s` : err.message || 'network error';
    throw new ApiError('network', 0, `Gateway unreachable (${why})`);
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: handled below */ }
  const msg = typeof body?.msg === 'string' ? body.msg : text.slice(0, 200) || response.statusText;
  if (response.status === 401) throw new ApiError('auth', 401, `401: the API token was refused (${msg})`, body);
  if (response.status === 503) throw new ApiError('broker', 503, `503: the broker is unreachable (${msg})`, body);
  if (response.status === 400) throw new ApiError('bad', 400, msg, body);
  if (!response.ok) throw new ApiError('http', response.status, `HTTP ${response.status}: ${msg}`, body);
  if (!body || typeof body !== 'object' || typeof body.data !== 'object') {
    throw new ApiError('http', response.status, 'The gateway answered something that is not an event API answer', body);
  }
  return body;
}

/**
 * The per-node results of one event as [id, result, timedOut] rows, in the answer's order.
 * Node events are keyed by node id (a timed-out node is in `extra` and has the timeout
 * marker); gateway-answered events (getBroker, getPusherChannels, triggerPusherEvent) are
 * keyed by gateway or app id.
 */
export function perNode(answer, event) {
  const results = answer?.data?.[event] ?? {};
  const extra = new Set(answer?.extra ?? []);
  const ids = Object.keys(results);
  for (const id of answer?.master_ids ?? []) if (extra.has(id) && !(id in results)) ids.push(id);
  return ids.map((id) => {
    const result = results[id];
    const timedOut = extra.has(id) || (result !== null && typeof result === 'object' && result.code === 3 && result.msg === 'timeout');
    return [id, result, timedOut];
  });
}
