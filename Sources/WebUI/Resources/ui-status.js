// The error banner (#error-banner, role="alert") and the gateway status pill in the top bar.
// Both follow every API call's outcome: the banner shows while the gateway is unreachable, the
// token is refused (401) or the broker is down (503), and hides on the next good answer.
// Bad requests (400) are the caller's to show, next to the form that made them.

import { getToken, onCall } from './ui-api.js';
import { $, fmtClock } from './ui-dom.js';
import { emit } from './ui-store.js';

const PILL = {
  ok: 'live',
  network: 'unreachable',
  auth: 'token refused',
  broker: 'broker down',
  http: 'error',
};

export function initStatus({ onTokenRequest }) {
  const banner = $('error-banner');
  const text = $('error-banner-text');
  const tokenButton = $('error-banner-token');
  const retryButton = $('error-banner-retry');
  const pill = $('gateway-status');
  const pillText = $('gateway-status-text');

  tokenButton.addEventListener('click', onTokenRequest);
  retryButton.addEventListener('click', () => emit('retry'));

  onCall((outcome) => {
    if (outcome.ok) {
      banner.hidden = true;
      pill.dataset.level = 'ok';
      pillText.textContent = PILL.ok;
      pill.title = `Gateway API answered at ${fmtClock()}`;
      return;
    }
    const { kind, message } = outcome.error;
    if (kind === 'bad') return; // shown by the form that sent it
    if (kind === 'auth' && outcome.error.token !== getToken()) return; // a token since replaced
    pill.dataset.level = kind === 'broker' ? 'warn' : 'err';
    pillText.textContent = PILL[kind] ?? 'error';
    pill.title = message;
    text.textContent = kind === 'network' ? `${message}. Retrying in the background; check that the gateway is running.` : message;
    tokenButton.hidden = kind !== 'auth';
    retryButton.hidden = kind === 'auth';
    banner.dataset.kind = kind;
    banner.hidden = false;
  });
}
