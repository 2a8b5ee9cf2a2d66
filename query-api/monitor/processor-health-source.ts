/**
 * Reads the processors' `/metrics` endpoints (PROCESSORS_METRICS_URLS) for the monitor. An
 * endpoint that does not answer within the timeout makes the whole reading unknown (null):
 * a partial reading could clear an alert that still holds.
 *
 * @example
 *   const source = createProcessorHealthSource({ urls: ['http://127.0.0.1:8082/metrics'] });
 *   const reading = await source.read(); // { deadLetters, lagMs, stateLost } or null
 */
import { healthFromMetrics, type ProcessorHealthReading } from './pipeline-health.js';

/** Per-endpoint timeout of one reading. */
const READ_TIMEOUT_MS = 5_000;

/** One reading: the figures, or null when unknown (`error` says why, absent when not configured). */
export interface HealthReadingResult {
  reading: ProcessorHealthReading | null;
  error?: string;
}

/** Where the monitor reads the pipeline's health: processors' /metrics (here) or CloudWatch. */
export interface ProcessorHealthSource {
  read(): Promise<HealthReadingResult>;
}

/** A source over the given `/metrics` URLs; none configured → always unknown. */
export function createProcessorHealthSource(options: {
  urls: readonly string[];
  fetch?: typeof fetch;
}): ProcessorHealthSource {
  const send = options.fetch ?? fetch;
  return {
    async read() {
      // Not configured: unknown, and nothing to report (the monitor said so once at start).
      if (options.urls.length === 0) return { reading: null };
      try {
        const texts = await Promise.all(
          options.urls.map(async (url) => {
            const response = await send(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
            if (!response.ok) throw new Error(`${url} answered ${response.status}`);
            return response.text();
          }),
        );
        return { reading: healthFromMetrics(texts) };
      } catch (error) {
        return { reading: null, error: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}
