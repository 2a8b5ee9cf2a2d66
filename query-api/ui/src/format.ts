/**
 * Number and time formatting of the results pages (pure; unit-tested in ../format.test.ts).
 * A missing value is an em dash, never "NaN" or "null".
 */

export const MISSING = '—';

const isNumber = (value: number | null | undefined): value is number =>
  typeof value === 'number' && Number.isFinite(value);

/** `0.2512` → `25.1%`; `signed` adds `+` to positive values. */
export function formatPercent(value: number | null | undefined, digits = 1, signed = false): string {
  if (!isNumber(value)) return MISSING;
  const text = `${(value * 100).toFixed(digits)}%`;
  return signed && value > 0 ? `+${text}` : text.replace('-', '−');
}

/** A plain number with up to `digits` significant decimals: `12.3456` → `12.35`, `1234.5` → `1,234.5`. */
export function formatNumber(value: number | null | undefined, digits = 4, signed = false): string {
  if (!isNumber(value)) return MISSING;
  const magnitude = Math.abs(value);
  const fraction = magnitude >= 1000 ? 1 : magnitude >= 1 ? 2 : Math.max(2, digits);
  const text = value.toLocaleString('en-US', { maximumFractionDigits: fraction, minimumFractionDigits: 0 });
  return signed && value > 0 ? `+${text}` : text.replace('-', '−');
}

/** Users and counts: `12345` → `12,345`. */
export const formatCount = (value: number): string => value.toLocaleString('en-US');

/** p-values: three decimals, `< 0.001` below that, `—` when undefined. */
export function formatPValue(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  if (value < 0.001) return '< 0.001';
  return value.toFixed(3);
}

/** An SRM p-value shown exactly enough to compare with 0.001: `2.1e-7`, `0.0004`, `0.412`. */
export function formatSrmPValue(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  if (value === 0) return '0';
  if (value < 0.0001) return value.toExponential(1);
  return value < 0.01 ? value.toFixed(4) : value.toFixed(3);
}

/** How long ago `then` was, in the largest whole unit: `3 s ago`, `2 min ago`, `5 h ago`, `4 d ago`. */
export function formatAgo(then: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** A metric's mean: a rate for binomial metrics (`25.1%`), a number otherwise. */
export function formatMean(value: number | null | undefined, type: string): string {
  return type === 'binomial' ? formatPercent(value, 1) : formatNumber(value);
}

/** An absolute lift: percentage points for binomial metrics (`+2.5 pp`), a signed number otherwise. */
export function formatAbsolute(value: number | null | undefined, type: string): string {
  if (!isNumber(value)) return MISSING;
  if (type !== 'binomial') return formatNumber(value, 4, true);
  const text = `${(value * 100).toFixed(1)} pp`;
  return value > 0 ? `+${text}` : text.replace('-', '−');
}

/** `[lo, hi]` of an interval, each end formatted by `format`; an open end is `−∞`/`+∞`. */
export function formatInterval(low: number | null, high: number | null, format: (value: number) => string): string {
  return `[${low === null ? '−∞' : format(low)}, ${high === null ? '+∞' : format(high)}]`;
}

/** A date and time in the reader's locale, minutes precision. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}
