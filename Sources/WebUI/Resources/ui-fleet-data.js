// The fleet's recent history, from successive getStats answers: per node, the connections
// and the messages per second in and out (derived from the counters' deltas between polls),
// over the last minute. Pure logic, no DOM.

import { isTimeout } from './ui-dom.js';

export const PALETTE_SIZE = 8;

export class FleetHistory {
  #nodes = new Map(); // id -> { color, last, samples: [{ t, connections, rateIn, rateOut }] }
  #nextColor = 0;

  constructor(windowMs = 60000) {
    this.windowMs = windowMs;
  }

  #node(id) {
    let node = this.#nodes.get(id);
    if (!node) {
      node = { color: this.#nextColor++ % PALETTE_SIZE, last: null, samples: [] };
      this.#nodes.set(id, node);
    }
    return node;
  }

  /**
   * Takes one answer holding getStats, received at time t (ms). Returns one row per live node:
   * { id, color, timedOut, stats, rateIn, rateOut }.
   */
  update(answer, t = Date.now()) {
    const stats = answer?.data?.getStats ?? {};
    const extra = new Set(answer?.extra ?? []);
    const rows = [];
    for (const id of answer?.master_ids ?? []) {
      const node = this.#node(id);
      const result = stats[id];
      if (extra.has(id) || isTimeout(result) || !result || typeof result !== 'object') {
        node.samples.push({ t, connections: null, rateIn: null, rateOut: null }); // a gap in the lines
        rows.push({ id, color: node.color, timedOut: true, stats: null, rateIn: null, rateOut: null });
        continue;
      }
      let rateIn = null;
      let rateOut = null;
      const last = node.last;
      // Rates need two samples of the same process (a restarted node starts its counters at 0).
      if (last && last.startedAt === result.started_at && t > last.t) {
        const seconds = (t - last.t) / 1000;
        rateIn = Math.max(0, (result.messages_received - last.received) / seconds);
        rateOut = Math.max(0, (result.messages_sent - last.sent) / seconds);
      }
      node.last = { t, startedAt: result.started_at, received: result.messages_received, sent: result.messages_sent };
      node.samples.push({ t, connections: result.connections, rateIn, rateOut });
      rows.push({ id, color: node.color, timedOut: false, stats: result, rateIn, rateOut });
    }
    this.#prune(t);
    return rows;
  }

  #prune(now) {
    const oldest = now - this.windowMs - 5000;
    for (const [id, node] of this.#nodes) {
      while (node.samples.length && node.samples[0].t < oldest) node.samples.shift();
      if (!node.samples.length) this.#nodes.delete(id);
    }
  }

  /** The chart's input: [{ id, color, samples }], nodes in order of appearance. */
  series() {
    return [...this.#nodes].map(([id, node]) => ({ id, color: node.color, samples: node.samples }));
  }
}
