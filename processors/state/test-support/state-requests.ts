/**
 * Seeded `StateRequest` streams for the state-store tests: several experiments and users,
 * segment values past a small cap, values that push running totals past a small limit, and
 * producer retries (an earlier eventId in a new record), in shard order.
 */
import { seededRandom } from '../../../local/test-support/counter-workload.js';
import { recordPosition } from '../../sequence-number.js';
import type { StateRequest } from '../types.js';

export interface StateRequestStream {
  /** The next `count` requests, positions continuing where the last call stopped. */
  next(count: number): StateRequest[];
}

const hex = (random: () => number, length: number): string =>
  Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');

/**
 * A stream of requests for `users` users over three experiments; 10% re-send an earlier eventId.
 * With `ratio`, a third metric `sessions` joins, `revenue` and `sessions` name each other as
 * partners, and half the requests carry covariates (which only a user's first event fixes);
 * without it the stream is the very same as before these existed.
 */
export function stateRequestStream(seed: number, users: number, options: { ratio?: boolean } = {}): StateRequestStream {
  const random = seededRandom(seed);
  const eventIds: string[] = [];
  let sequence = 0;
  return {
    next(count) {
      const requests: StateRequest[] = [];
      for (let i = 0; i < count; i++) {
        sequence++;
        const retry = eventIds.length > 0 && random() < 0.1;
        const eventId = retry
          ? (eventIds[Math.floor(random() * eventIds.length)] as string)
          : `${hex(random, 8)}-${hex(random, 4)}-4${hex(random, 3)}-8${hex(random, 3)}-${hex(random, 12)}`;
        if (!retry) eventIds.push(eventId);
        const user = Math.floor(random() * users);
        const variant = user % 2 ? 'control' : 'treatment';
        const request: StateRequest = {
          eventId,
          // A few records carry two events (KPL sub-records), as aggregated Kinesis records do.
          position: recordPosition(`4959${String(Math.ceil(sequence / 2)).padStart(52, '0')}`, (sequence - 1) % 2),
          experimentId: `exp-${user % 3}`,
          userId: `user-${user}`,
          variantMetric: `${variant}#${random() < 0.5 ? '$exposure' : 'revenue'}`,
          segments: [
            ['country', `C${Math.floor(random() * 8)}`],
            ['device', random() < 0.5 ? 'ios' : 'web'],
          ],
          scaledValue: Math.round((random() - 0.3) * 20_000_000),
        };
        if (options.ratio) {
          const metric = ['$exposure', 'revenue', 'sessions'][Math.floor(random() * 3)] as string;
          request.variantMetric = `${variant}#${metric}`;
          if (metric === 'revenue') request.partners = [`${variant}#sessions`];
          if (metric === 'sessions') request.partners = [`${variant}#revenue`, `${variant}#$exposure`];
          if (random() < 0.5) {
            request.covariates = [
              ['revenue', Math.round((random() - 0.5) * 2e14)],
              ['sessions', Math.floor(random() * 5) * 1_000_000],
            ];
          }
        }
        requests.push(request);
      }
      return requests;
    },
  };
}
