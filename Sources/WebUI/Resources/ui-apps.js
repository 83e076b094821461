// The Pusher apps known to the gateway (getPusherChannels), shared by the explorer, the
// console's app list and the tester's Pusher URLs. Concurrent loads share one request.

import { call } from './ui-api.js';
import { get, set } from './ui-store.js';

let inflight = null;

/** Loads the apps: resolves with { "<app id>": { key, connections, channels, truncated } }. */
export function loadApps() {
  inflight ??= call(['getPusherChannels'])
    .then((answer) => {
      const apps = answer.data.getPusherChannels ?? {};
      set('apps', apps);
      return apps;
    })
    .finally(() => { inflight = null; });
  return inflight;
}

/** The apps from the last load (or {}). */
export function knownApps() {
  return get('apps') ?? {};
}
