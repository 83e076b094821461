// The tester's frame log (#tester-log, an <ol>): one <li class="in|out|info"> per frame or
// event, with a time stamp; a text filter, autoscroll, and a cap on the number of lines.
// Lines are appended in batches, once per animation frame, so a busy room does not force a
// layout per message.

import { fmtClock, h } from './ui-dom.js';

const MAX_LINES = 2000;
const ARROWS = { in: ['←', 'received'], out: ['→', 'sent'], info: ['•', 'event'] };

export class FrameLog {
  #pending = [];
  #scheduled = false;

  constructor(list, filter, autoscroll) {
    this.list = list;
    this.filter = filter;
    this.autoscroll = autoscroll;
    filter.addEventListener('input', () => this.applyFilter());
  }

  #matches(li) {
    const query = this.filter.value.trim().toLowerCase();
    return !query || li.textContent.toLowerCase().includes(query);
  }

  /** kind: 'in' | 'out' | 'info'; error: true marks an info line as a problem. */
  add(kind, text, { error = false } = {}) {
    const now = new Date();
    const [arrow, label] = ARROWS[kind];
    this.#pending.push(h('li', { class: `${kind}${error ? ' error' : ''}` },
      h('time', { datetime: now.toISOString() }, fmtClock(now, true)),
      h('span', { class: 'dir', title: label }, h('span', { 'aria-hidden': 'true' }, arrow), h('span', { class: 'sr-only' }, label)),
      h('span', { class: 'text' }, text)));
    if (this.#pending.length > MAX_LINES) this.#pending.splice(0, this.#pending.length - MAX_LINES);
    if (!this.#scheduled) {
      this.#scheduled = true;
      // A background tab runs no animation frames: a timer flushes there instead.
      const flush = () => this.#flush();
      if (document.hidden) setTimeout(flush, 250);
      else requestAnimationFrame(flush);
    }
  }

  #flush() {
    this.#scheduled = false;
    const lines = this.#pending.splice(0);
    for (const li of lines) li.hidden = !this.#matches(li);
    this.list.append(...lines);
    const excess = this.list.children.length - MAX_LINES;
    for (let i = 0; i < excess; i++) this.list.firstElementChild.remove();
    if (this.autoscroll.checked) this.list.scrollTop = this.list.scrollHeight;
  }

  clear() {
    this.#pending = [];
    this.list.replaceChildren();
  }

  applyFilter() {
    for (const li of this.list.children) li.hidden = !this.#matches(li);
    if (this.autoscroll.checked) this.list.scrollTop = this.list.scrollHeight;
  }
}
