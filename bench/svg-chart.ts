/**
 * A small, dependency-free SVG line chart for the bench report: time on x, one or two
 * y axes (e.g. throughput on the left, lag on the right). Opens in any browser.
 */
export interface Series {
  name: string;
  /** [seconds since start, value] */
  points: [number, number][];
  color: string;
  /** Which axis: 'left' (default) or 'right'. */
  axis?: 'left' | 'right';
}

export interface ChartOptions {
  title: string;
  leftLabel: string;
  rightLabel?: string;
  width?: number;
  height?: number;
}

const escapeXml = (text: string): string => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / magnitude) * magnitude;
}

/** Renders the series as an SVG document. */
export function renderLineChart(series: readonly Series[], options: ChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 360;
  const margin = { top: 40, right: 80, bottom: 40, left: 80 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const allPoints = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...allPoints.map(([x]) => x));
  const maxFor = (axis: 'left' | 'right'): number =>
    niceMax(
      Math.max(0, ...series.filter((s) => (s.axis ?? 'left') === axis).flatMap((s) => s.points.map(([, y]) => y))),
    );
  const maxLeft = maxFor('left');
  const maxRight = maxFor('right');
  const x = (value: number): number => margin.left + (value / maxX) * plotWidth;
  const y = (value: number, axis: 'left' | 'right'): number =>
    margin.top + plotHeight - (value / (axis === 'left' ? maxLeft : maxRight)) * plotHeight;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    `<line x1="${margin.left}" y1="${margin.top + plotHeight}" x2="${margin.left + plotWidth}" y2="${margin.top + plotHeight}" stroke="#333"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotHeight}" stroke="#333"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">seconds</text>`,
    `<text x="18" y="${margin.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${margin.top + plotHeight / 2})">${escapeXml(options.leftLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const fraction = i / 4;
    const gy = margin.top + plotHeight - fraction * plotHeight;
    parts.push(`<line x1="${margin.left}" y1="${gy}" x2="${margin.left + plotWidth}" y2="${gy}" stroke="#eee"/>`);
    parts.push(
      `<text x="${margin.left - 6}" y="${gy + 4}" text-anchor="end">${Math.round(maxLeft * fraction).toLocaleString('en-US')}</text>`,
    );
    if (options.rightLabel) {
      parts.push(
        `<text x="${margin.left + plotWidth + 6}" y="${gy + 4}">${Math.round(maxRight * fraction).toLocaleString('en-US')}</text>`,
      );
    }
    const gx = margin.left + fraction * plotWidth;
    parts.push(
      `<text x="${gx}" y="${margin.top + plotHeight + 16}" text-anchor="middle">${(maxX * fraction).toFixed(0)}</text>`,
    );
  }
  if (options.rightLabel) {
    const cy = margin.top + plotHeight / 2;
    parts.push(
      `<text x="${width - 14}" y="${cy}" text-anchor="middle" transform="rotate(90 ${width - 14} ${cy})">${escapeXml(options.rightLabel)}</text>`,
    );
  }
  series.forEach((s, index) => {
    const axis = s.axis ?? 'left';
    const path = s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py, axis).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${path}"/>`);
    const ly = margin.top + 14 + index * 16;
    parts.push(`<rect x="${margin.left + 10}" y="${ly - 9}" width="12" height="3" fill="${s.color}"/>`);
    parts.push(
      `<text x="${margin.left + 28}" y="${ly - 4}">${escapeXml(s.name)}${axis === 'right' ? ' (right axis)' : ''}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
