// Small DOM helpers: element creation without innerHTML (all text goes in as text nodes, so
// ids and messages from the fleet can never inject markup), and the console's formatting.

/** Element by id (throws early when the HTML and the code disagree). */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

/**
 * h('button', { type: 'button', class: 'btn', onclick: fn, dataset: { id } }, 'text', child)
 * Attributes starting with "on" become listeners; `dataset` fills data-*; null/false skip.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes (presentation attributes, not style="", so the CSP is happy). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- formatting ------------------------------------------------------------------------------

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function fmtInt(n) {
  return Number.isFinite(n) ? integer.format(n) : '–';
}

/** Messages per second: one decimal below 10, whole numbers above. */
export function fmtRate(n) {
  if (!Number.isFinite(n)) return '–';
  return n < 10 ? decimal.format(n) : integer.format(n);
}

export function fmtMB(bytes) {
  return Number.isFinite(bytes) ? `${decimal.format(bytes / 1048576)} MB` : '–';
}

/** 42s, 5m 12s, 2h 05m, 3d 4h */
export function fmtUptime(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${String(mm).padStart(2, '0')}m`;
  if (mm) return `${mm}m ${String(ss).padStart(2, '0')}s`;
  return `${ss}s`;
}

/** hh:mm:ss, or hh:mm:ss.mmm with ms */
export function fmtClock(date = new Date(), ms = false) {
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const base = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return ms ? `${base}.${pad(date.getMilliseconds(), 3)}` : base;
}

/** A timestamp (ms since 1970) as a local date and time, or '–'. */
export function fmtDateTime(ms) {
  return Number.isFinite(ms) ? new Date(ms).toLocaleString() : '–';
}

/** A node id short enough for a legend: 32-hex ids become their first 8 digits. */
export function shortId(id) {
  return /^[0-9a-f]{20,}$/i.test(id) ? `${id.slice(0, 8)}…` : id;
}

/** A per-node result that is the gateway's timeout marker {"code":3,"msg":"timeout"}. */
export function isTimeout(result) {
  return result !== null && typeof result === 'object' && result.code === 3 && result.msg === 'timeout';
}

/** Compact JSON of a per-node result for display. */
export function fmtResult(value) {
  if (isTimeout(value)) return 'timeout';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
