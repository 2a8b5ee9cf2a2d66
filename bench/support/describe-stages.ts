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
