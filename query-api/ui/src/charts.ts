/**
 * Hand-drawn SVG: the interval bar of a lift against zero (one per treatment row, all rows
 * of a metric on one scale) and the results history chart. No chart library: the two
 * shapes are a few rectangles and paths. Colours come from CSS classes (verdict-*), and
 * every chart has a text equivalent (aria-label, or a table beside it).
 */
import type { HistoryPoint, Interval } from './api-types.js';
import { svg } from './dom.js';
import { formatPercent } from './format.js';
import type { Verdict } from './verdict.js';

export interface Scale {
  min: number;
  max: number;
}

/** One scale for every interval of a table: covers zero, each finite bound and estimate, 8% padding. */
export function intervalScale(intervals: readonly Interval[]): Scale {
  const values = [0];
  for (const interval of intervals) {
    for (const value of [interval.ciLow, interval.ciHigh, interval.estimate]) {
      if (value !== null && Number.isFinite(value)) values.push(value);
    }
  }
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (max - min < 1e-9) {
    min -= 0.05;
    max += 0.05;
  }
  const pad = (max - min) * 0.08;
  return { min: min - pad, max: max + pad };
}

const BAR_WIDTH = 160;
const BAR_HEIGHT = 22;

/** The interval of a relative lift as a bar with its estimate, against a zero line. */
export function intervalBar(interval: Interval, scale: Scale, verdict: Verdict): SVGElement {
  const x = (value: number) => ((value - scale.min) / (scale.max - scale.min)) * BAR_WIDTH;
  const zero = x(0);
  const label =
    interval.estimate === null
      ? 'relative lift undefined'
      : `relative lift ${formatPercent(interval.estimate, 1, true)}, interval ` +
        `${interval.ciLow === null ? 'unbounded' : formatPercent(interval.ciLow, 1, true)} to ` +
        `${interval.ciHigh === null ? 'unbounded' : formatPercent(interval.ciHigh, 1, true)}`;
  const parts: SVGElement[] = [svg('line', { class: 'zero', x1: zero, x2: zero, y1: 1, y2: BAR_HEIGHT - 1 })];
  if (interval.estimate !== null) {
    const low = interval.ciLow === null ? 0 : Math.max(0, x(interval.ciLow));
    const high = interval.ciHigh === null ? BAR_WIDTH : Math.min(BAR_WIDTH, x(interval.ciHigh));
    parts.push(svg('rect', { class: 'range', x: low, y: 7, width: Math.max(1, high - low), height: 8, rx: 2 }));
    if (interval.ciLow === null) parts.push(svg('path', { class: 'open-end', d: 'M0 11 L6 6 L6 16 Z' }));
    if (interval.ciHigh === null) {
      parts.push(svg('path', { class: 'open-end', d: `M${BAR_WIDTH} 11 L${BAR_WIDTH - 6} 6 L${BAR_WIDTH - 6} 16 Z` }));
    }
    parts.push(svg('circle', { class: 'estimate', cx: x(interval.estimate), cy: 11, r: 3.5 }));
  }
  return svg(
    'svg',
    {
      class: `interval-bar verdict-${verdict}`,
      width: BAR_WIDTH,
      height: BAR_HEIGHT,
      viewBox: `0 0 ${BAR_WIDTH} ${BAR_HEIGHT}`,
      role: 'img',
      'aria-label': label,
    },
    svg('title', {}, label),
    parts,
  );
}

const CHART_WIDTH = 720;
const CHART_HEIGHT = 240;
const MARGIN = { left: 56, right: 16, top: 12, bottom: 28 };
/** Dash patterns that tell the lines apart without colour. */
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2'];

/** Round tick values covering [min, max]. */
export function ticks(min: number, max: number, count = 5): number[] {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => span / s <= count) ?? 10 * power;
  const out: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) {
    out.push(Number(value.toPrecision(12)));
  }
  return out;
}

/**
 * The relative lift of each treatment over time: a line per variant (its own dash
 * pattern and colour), its interval as a band, the zero line. Times on x, lift on y.
 */
export function historyChart(points: readonly HistoryPoint[], variantIds: readonly string[]): SVGElement {
  const times = points.map((p) => new Date(p.at).getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const values = [0];
  for (const point of points) {
    for (const v of point.variants) {
      if (!variantIds.includes(v.variantId)) continue;
      if (!v.lift) continue;
      for (const value of [v.lift.relative, ...v.lift.interval]) if (value !== null) values.push(value);
    }
  }
  const scale = intervalScale([{ estimate: Math.min(...values), ciLow: null, ciHigh: Math.max(...values) }]);
  const plotWidth = CHART_WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (t: number) => MARGIN.left + ((t - t0) / (t1 - t0)) * plotWidth;
  const y = (v: number) => MARGIN.top + (1 - (v - scale.min) / (scale.max - scale.min)) * plotHeight;
  const children: SVGElement[] = [];
  for (const tick of ticks(scale.min, scale.max)) {
    children.push(
      svg('line', { class: 'grid', x1: MARGIN.left, x2: CHART_WIDTH - MARGIN.right, y1: y(tick), y2: y(tick) }),
      svg('text', { class: 'axis', x: MARGIN.left - 6, y: y(tick) + 4, 'text-anchor': 'end' }, formatPercent(tick, 0)),
    );
  }
  children.push(svg('line', { class: 'zero', x1: MARGIN.left, x2: CHART_WIDTH - MARGIN.right, y1: y(0), y2: y(0) }));
  const anchors = ['start', 'middle', 'end'];
  [t0, (t0 + t1) / 2, t1].forEach((t, i) => {
    const date = new Date(t);
    children.push(
      svg(
        'text',
        { class: 'axis', x: x(t), y: CHART_HEIGHT - 8, 'text-anchor': anchors[i] ?? 'middle' },
        date.toLocaleString('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }),
      ),
    );
  });
  variantIds.forEach((variantId, index) => {
    type Lift = NonNullable<HistoryPoint['variants'][number]['lift']>;
    const series = points
      .map((point, i) => ({ t: times[i] as number, lift: point.variants.find((v) => v.variantId === variantId)?.lift }))
      .filter((s): s is { t: number; lift: Lift } => s.lift !== undefined && s.lift !== null);
    const withLift = series.filter((s) => s.lift.relative !== null);
    const banded = withLift.filter((s) => s.lift.interval[0] !== null && s.lift.interval[1] !== null);
    if (banded.length > 1) {
      const upper = banded.map((s) => `${x(s.t)},${y(s.lift.interval[1] as number)}`);
      const lower = banded.map((s) => `${x(s.t)},${y(s.lift.interval[0] as number)}`).reverse();
      children.push(svg('polygon', { class: `band series-${index % 5}`, points: [...upper, ...lower].join(' ') }));
    }
    if (withLift.length > 0) {
      children.push(
        svg('polyline', {
          class: `line series-${index % 5}`,
          points: withLift.map((s) => `${x(s.t)},${y(s.lift.relative as number)}`).join(' '),
          'stroke-dasharray': DASHES[index % DASHES.length] || null,
        }),
      );
    }
  });
  return svg(
    'svg',
    {
      class: 'history-chart',
      viewBox: `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`,
      role: 'img',
      'aria-label': `Relative lift over time of ${variantIds.join(', ')} against the control; the table below lists the latest values.`,
    },
    children,
  );
}

/** The legend entry's line sample, in the series' dash pattern. */
export function legendSwatch(index: number): SVGElement {
  return svg(
    'svg',
    { class: 'swatch', width: 28, height: 10, viewBox: '0 0 28 10', 'aria-hidden': 'true' },
    svg('line', {
      class: `line series-${index % 5}`,
      x1: 0,
      x2: 28,
      y1: 5,
      y2: 5,
      'stroke-dasharray': DASHES[index % DASHES.length] || null,
    }),
  );
}
