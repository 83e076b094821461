// The API token: asked for only when the gateway answers 401 (an open API needs none), in the
// #token-dialog (form #token-form). "Change token" (#token-clear) forgets the stored one.
// Setting or clearing the token sends the 'token' signal: pollers retry at once.

import { getToken, onCall, setToken } from './ui-api.js';
import { $ } from './ui-dom.js';
import { emit, on } from './ui-store.js';

let dialog, input, error, clearButton;

/** Resolves the next time the token changes (submitted or cleared). */
export function tokenChanged() {
  return new Promise((resolve) => {
    const off = on('token', () => { off(); resolve(); });
  });
}

export function openTokenDialog() {
  if (dialog.open) return;
  input.value = '';
  if (typeof dialog.showModal === 'function') dialog.showModal();
  else dialog.setAttribute('open', '');
  input.focus();
}

function closeDialog() {
  if (typeof dialog.close === 'function') dialog.close();
  else dialog.removeAttribute('open');
}

function syncClearButton() {
  clearButton.hidden = !getToken();
}

export function initAuth() {
  dialog = $('token-dialog');
  input = $('token-input');
  error = $('token-error');
  clearButton = $('token-clear');
  syncClearButton();

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.textContent = 'Enter the API token (TOKEN of the gateway).';
      error.classList.add('notice-err');
      error.hidden = false;
      input.focus();
      return;
    }
    error.hidden = true;
    setToken(token);
    syncClearButton();
    closeDialog();
    emit('token');
  });
  $('token-cancel').addEventListener('click', closeDialog);

  clearButton.addEventListener('click', () => {
    setToken(null);
    syncClearButton();
    emit('token');
  });

  onCall((outcome) => {
    if (outcome.ok || outcome.error.kind !== 'auth') return;
    if (outcome.error.token !== getToken()) return; // sent before the token changed: stale
    const refused = Boolean(getToken());
    error.textContent = refused ? '401: the gateway refused this token.' : 'This gateway requires a token (401).';
    error.classList.toggle('notice-err', refused);
    error.hidden = false;
    openTokenDialog();
  });
}
