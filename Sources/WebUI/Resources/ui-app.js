// Entry point of the admin console (/ui/): wires the status banner, the token dialog, the
// views and the hash router. Each view module exports init*() returning { show, hide }.

import { initAuth, openTokenDialog } from './ui-auth.js';
import { initConsole } from './ui-console.js';
import { initExplorer } from './ui-explorer.js';
import { initFleet } from './ui-fleet.js';
import { initRouter } from './ui-router.js';
import { initStatus } from './ui-status.js';
import { initTester } from './ui-tester.js';

function start() {
  initStatus({ onTokenRequest: openTokenDialog });
  initAuth();
  const views = {
    fleet: initFleet(),
    explorer: initExplorer(),
    console: initConsole(),
    tester: initTester(),
  };
  initRouter(views);
}

// Module scripts run after parsing, but be safe if this one is ever loaded differently.
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
