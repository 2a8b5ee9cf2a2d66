/**
 * Where a processors batch's time goes, as the pipeline and flush-interval benches print it: p50 / p99 ms per
 * batch of every stage the run observed (`processor_stage_seconds`), in pipeline order.
 */
import { FRESHNESS_STAGES } from '../../processors/metrics.js';
import type { ProcessorStats } from './processors-target.js';

/**
 * @example
 *   describeStages({ decode: { p50: 1.25, p99: 6.5, count: 40 } }) // 'decode 1.3 / 6.5'
 */
export function describeStages(stagesMs: ProcessorStats['stagesMs']): string {
  return FRESHNESS_STAGES.flatMap((stage) => {
    const times = stagesMs[stage];
    return times ? [`${stage} ${times.p50.toFixed(1)} / ${times.p99.toFixed(1)}`] : [];
  }).join(', ');
}

/** The stages a shard reader spends its own time in, one after another (the others are waits before it reads). */
const READER_STAGES = FRESHNESS_STAGES.filter((stage) => stage !== 'collector_to_stream' && stage !== 'stream_to_read');

/**
 * Where a drain's time went: each reader stage's time summed over the batches of every process, in ms,
 * beside the readers' time available (`wallMs` × `readers`: each shard reader runs its stages one after
 * another, so what is left of it is time between batches).
 *
 * @example
 *   describeStageTotals([{ decode: { p50: 1, p99: 2, count: 2, totalMs: 3 } }], 10, 2) // 'decode 3 (15%) of 20 reader-ms'
 */
export function describeStageTotals(
  stagesOfProcesses: readonly ProcessorStats['stagesMs'][],
  wallMs: number,
  readers: number,
): string {
  const available = wallMs * readers;
  const parts = READER_STAGES.flatMap((stage) => {
    const total = stagesOfProcesses.reduce((sum, stages) => sum + (stages[stage]?.totalMs ?? 0), 0);
    return total > 0 ? [`${stage} ${total.toFixed(0)} (${((total / available) * 100).toFixed(0)}%)`] : [];
  });
  return `${parts.join(', ')} of ${available.toFixed(0)} reader-ms`;
}
