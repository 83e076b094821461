// The fleet chart: an inline SVG built with createElementNS, redrawn from scratch each second
// (a few hundred elements at most). Two panels sharing the time axis (the last 60 s):
// connections per node, and messages per second per node (solid: sent, dashed: received).
// Colours come from CSS classes (series-0 … series-7), so the chart follows light/dark.

import { fmtInt, fmtRate, s, shortId } from './ui-dom.js';

const PAD_LEFT = 46;
const PAD_RIGHT = 14;
const PANEL_HEIGHT = 110;
const PANEL_GAP = 34;
const LEGEND_ROW = 18;
const CHAR_WIDTH = 6.6; // approximate width of a legend character at the chart's font size

/**
 * The smallest "nice" number (1, 2, 2.5, 5 × 10^n) at or above v, at least `min`. For counts,
 * the steps are 1, 2, 4 × 10^n (with min 2), so that the middle grid line is a whole number.
 */
function niceMax(v, min, steps = [1, 2, 2.5, 5, 10]) {
  if (!(v > min)) return min;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of steps) if (m * p >= v) return m * p;
  return 10 * p;
}

/** "M x y L x y …" through the points with a value, broken where the value is null. */
function pathOf(samples, value, x, y) {
  let d = '';
  let pen = false;
  for (const sample of samples) {
    const v = value(sample);
    if (v === null || v === undefined) { pen = false; continue; }
    d += `${pen ? 'L' : 'M'}${x(sample.t).toFixed(1)} ${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Lays the legend out in rows; returns [elements, height]. */
function legend(series, width) {
  const group = s('g', { class: 'legend' });
  let x = PAD_LEFT;
  let row = 0;
  for (const { id, color } of series) {
    const label = shortId(id);
    const itemWidth = 16 + label.length * CHAR_WIDTH + 18;
    if (x + itemWidth > width - PAD_RIGHT && x > PAD_LEFT) { x = PAD_LEFT; row++; }
    const y = row * LEGEND_ROW + 12;
    group.append(
      s('rect', { class: `swatch series-${color}`, x, y: y - 8, width: 11, height: 11, rx: 2 }),
      s('text', { x: x + 16, y: y + 1.5, class: 'legend-text' }, label, s('title', {}, id)),
    );
    x += itemWidth;
  }
  return [group, series.length ? (row + 1) * LEGEND_ROW + 6 : 0];
}

function panel({ top, width, title, max, format, now, windowMs, lines, xLabels }) {
  const g = s('g', { class: 'panel' });
  const x0 = PAD_LEFT;
  const x1 = width - PAD_RIGHT;
  const y0 = top + 16; // below the panel title
  const y1 = top + PANEL_HEIGHT;
  const x = (t) => x1 - ((now - t) / windowMs) * (x1 - x0);
  const y = (v) => y1 - (v / max) * (y1 - y0);

  g.append(s('text', { x: x0, y: top + 8, class: 'panel-title' }, title));
  for (const f of [0, 0.5, 1]) {
    const gy = y(max * f);
    g.append(
      s('line', { x1: x0, x2: x1, y1: gy, y2: gy, class: f === 0 ? 'axis' : 'grid' }),
      s('text', { x: x0 - 6, y: gy + 3.5, class: 'tick', 'text-anchor': 'end' }, format(max * f)),
    );
  }
  for (const seconds of [60, 45, 30, 15, 0]) {
    const gx = x(now - seconds * 1000);
    g.append(s('line', { x1: gx, x2: gx, y1: y0, y2: y1, class: 'grid' }));
    if (xLabels) {
      const label = seconds === 0 ? 'now' : `-${seconds} s`;
      const anchor = seconds === 60 ? 'start' : seconds === 0 ? 'end' : 'middle';
      g.append(s('text', { x: gx, y: y1 + 14, class: 'tick', 'text-anchor': anchor }, label));
    }
  }
  for (const { d, color, dashed } of lines(x, y)) {
    if (d) g.append(s('path', { d, class: `line series-${color}${dashed ? ' dashed' : ''}` }));
  }
  return g;
}

/**
 * Redraws `svg` from `series` ([{ id, color, samples: [{ t, connections, rateIn, rateOut }] }]).
 * Does nothing while the chart is not displayed (it has no width then).
 */
export function drawChart(svg, series, now = Date.now(), windowMs = 60000) {
  const width = Math.floor(svg.parentElement?.clientWidth ?? 0);
  if (width < 100) return;
  const title = svg.querySelector('title');
  const inWindow = series
    .map((item) => ({ ...item, samples: item.samples.filter((p) => p.t >= now - windowMs) }))
    .filter((item) => item.samples.length);

  const [legendGroup, legendHeight] = legend(inWindow, width);
  const topConnections = legendHeight;
  const topRates = topConnections + PANEL_HEIGHT + PANEL_GAP;
  const height = topRates + PANEL_HEIGHT + 22;

  let maxConnections = 0;
  let maxRate = 0;
  for (const { samples } of inWindow) {
    for (const p of samples) {
      maxConnections = Math.max(maxConnections, p.connections ?? 0);
      maxRate = Math.max(maxRate, p.rateIn ?? 0, p.rateOut ?? 0);
    }
  }
  const connMax = niceMax(maxConnections, 2, [1, 2, 4, 10]);
  const rateMax = niceMax(maxRate, 1);
  const common = { width, now, windowMs };

  // `lines` gets the panel's scales and returns the paths to draw.
  const connections = panel({
    ...common, top: topConnections, title: 'Connections', max: connMax, format: fmtInt,
    lines: (x, y) => inWindow.map(({ samples, color }) => ({ color, d: pathOf(samples, (p) => p.connections, x, y) })),
  });
  const rates = panel({
    ...common, top: topRates, title: 'Messages/s', max: rateMax, format: fmtRate, xLabels: true,
    lines: (x, y) => inWindow.flatMap(({ samples, color }) => [
      { color, d: pathOf(samples, (p) => p.rateOut, x, y) },
      { color, dashed: true, d: pathOf(samples, (p) => p.rateIn, x, y) },
    ]),
  });
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.replaceChildren(title ?? s('title', {}, 'Fleet chart'), legendGroup, connections, rates);
  if (!inWindow.length) {
    svg.append(s('text', { x: width / 2, y: topConnections + PANEL_HEIGHT / 2, class: 'empty', 'text-anchor': 'middle' }, 'Waiting for data…'));
  }
}
