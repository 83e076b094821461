// Shared state between the views, with change notifications: the latest fleet snapshot (live
// nodes and their addresses, used by the tester's URL list) and the Pusher apps (used by the
// console's app list and the tester's Pusher URLs). Also a tiny event bus for app-wide signals
// ('retry': poll now; 'token': the API token changed).

const values = new Map();
const listeners = new Map();

function listenersOf(key) {
  if (!listeners.has(key)) listeners.set(key, new Set());
  return listeners.get(key);
}

/** Subscribes to a key (a value set with set(), or a signal sent with emit()). */
export function on(key, fn) {
  listenersOf(key).add(fn);
  return () => listenersOf(key).delete(fn);
}

export function get(key) {
  return values.get(key);
}

export function set(key, value) {
  values.set(key, value);
  emit(key, value);
}

export function emit(key, value) {
  for (const fn of [...listenersOf(key)]) fn(value);
}
