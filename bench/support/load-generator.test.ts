import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingEvent } from '../../common/event-contract.js';
import { readBody } from '../../common/test-support/sigv4-verify.js';
import { generateRequests, toStreamEvent, type WorkloadShape } from '../workload.js';
import { acceptedEvents, eventBound, prepareLoad, sendLoad, uniqueAcceptedCount } from './load-generator.js';

const shape: WorkloadShape = {
  seed: 11,
  events: 450,
  eventsPerRequest: 100,
  users: 40,
  experiments: 2,
  variants: 2,
  metrics: 2,
  segmentValues: 5,
  segmentDimensions: 1,
  duplicateShare: 0.1,
  malformedShare: 0.05,
};

/** What the fake collector answers to the n-th request it receives (0-based), given the events it was sent. */
type Answer = (n: number, events: unknown[]) => { status: number; body: string };

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A stand-in for the collector's events route: answers with the collector's shapes (202 `{ accepted, rejected }`, 429, …). */
async function fakeCollector(answer: Answer): Promise<{ url: string; received: unknown[][] }> {
  const received: unknown[][] = [];
  const server = createServer((request, response) => {
    void readBody(request).then((text) => {
      const events = JSON.parse(text) as unknown[];
      const { status, body } = answer(received.length, events);
      received.push(events);
      response.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/events`, received };
}

/** True when the collector's own rules refuse the event (the workload's malformed share). */
const malformed = (event: unknown): boolean => {
  try {
    toStreamEvent(event as IncomingEvent, Date.now());
    return false;
  } catch {
    return true;
  }
};

/** The collector's 202: every well-formed event accepted but the ones `refuse` names. */
const accept =
  (refuse: (event: unknown, index: number) => boolean = () => false): Answer =>
  (_n, events) => {
    const rejected = events.flatMap((event, index) => (malformed(event) || refuse(event, index) ? [{ index }] : []));
    return { status: 202, body: JSON.stringify({ accepted: events.length - rejected.length, rejected }) };
  };

const counters = () => ({ accepted: 0, rejected: 0, failedRequests: 0 });

describe('load generator (against a fake collector speaking the events route shapes)', () => {
  it('prepares every request body before sending, in workload order, when the run has an event count', () => {
    const load = prepareLoad(shape, { maxEvents: eventBound(shape, 0, undefined) });
    const expected = [...generateRequests(shape)].map((request) => JSON.stringify(request.events));
    expect(load.bodies?.map((body) => body.toString('utf8'))).toEqual(expected);
    expect(load.requests).toHaveLength(5);
    expect(eventBound(shape, 1000, 2)).toBe(2100);
    expect(eventBound(shape, 0, 2)).toBeUndefined(); // sustained and unpaced: nothing to prepare
    expect(prepareLoad(shape, { maxEvents: 250 }).bodies).toHaveLength(3);
  });

  it('sends the prepared bytes, retries a 429, and rebuilds exactly the accepted events for the ground truth', async () => {
    const refuseMalformedOrThird = (event: unknown, index: number) => index % 3 === 0 || malformed(event);
    let throttled = false;
    const collector = await fakeCollector((n, events) => {
      if (n === 1 && !throttled) {
        throttled = true;
        return { status: 429, body: 'slow down' }; // not JSON: a 429 is retried without reading it
      }
      return accept(refuseMalformedOrThird)(n, events);
    });
    const load = prepareLoad(shape, { maxEvents: shape.events });
    const sent = await sendLoad(load, { url: collector.url, rate: 0, concurrency: 2 }, counters(), () => undefined);

    const workload = [...generateRequests(shape)];
    expect(collector.received).toHaveLength(workload.length + 1); // one retry
    const expected = workload.flatMap((request) =>
      request.events.filter((event, index) => !refuseMalformedOrThird(event, index)),
    );
    const accepted = acceptedEvents(load, sent);
    expect(accepted.length).toBeGreaterThan(250); // two thirds of 450, less the malformed share
    expect(accepted).toEqual(
      expected.map((event, index) => toStreamEvent(event as IncomingEvent, accepted[index]?.receivedAt ?? Number.NaN)),
    );
    expect(uniqueAcceptedCount(load, sent)).toBe(new Set(accepted.map((event) => event.eventId)).size);
    expect(uniqueAcceptedCount(load, sent)).toBeLessThan(accepted.length); // the workload's retried eventIds
  });

  it('counts what the collector answered, and gives up a request after five 429s', async () => {
    const collector = await fakeCollector((n, events) =>
      n < 5 ? { status: 429, body: '{}' } : accept((_event, index) => index === 0)(n, events),
    );
    const load = prepareLoad({ ...shape, events: 200 }, { maxEvents: 200 });
    const sendCounters = counters();
    const sent = await sendLoad(load, { url: collector.url, rate: 0, concurrency: 1 }, sendCounters, () => undefined);
    const second = [...generateRequests({ ...shape, events: 200 })][1]?.events ?? [];
    const refused = second.filter((event, index) => index === 0 || malformed(event)).length;
    expect(refused).toBeGreaterThan(1); // the first event, and the malformed share
    expect(refused).toBeLessThan(20);
    expect(sendCounters).toEqual({ accepted: 100 - refused, rejected: refused, failedRequests: 1 });
    expect(sent.requests[0]).toBeUndefined(); // given up: none of its events is in the truth
    expect(acceptedEvents(load, sent)).toHaveLength(100 - refused);
  });

  it('fails with the status and body when the collector answers what it never should (a 500)', async () => {
    const collector = await fakeCollector(() => ({ status: 500, body: '{"error":"boom"}' }));
    const load = prepareLoad(shape, { maxEvents: shape.events });
    await expect(
      sendLoad(load, { url: collector.url, rate: 0, concurrency: 1 }, counters(), () => undefined),
    ).rejects.toThrow('the collector answered 500 to request 0: {"error":"boom"}');
  });

  it('without an event count, generates the requests as it sends them and keeps them for the truth', async () => {
    const collector = await fakeCollector(accept());
    const unbounded = { ...shape, events: Number.MAX_SAFE_INTEGER };
    const load = prepareLoad(unbounded, { maxEvents: eventBound(unbounded, 0, 0.3) });
    expect(load.bodies).toBeUndefined();
    const sent = await sendLoad(
      load,
      { url: collector.url, rate: 0, concurrency: 1, durationSeconds: 0.3 },
      counters(),
      () => undefined,
    );
    expect(collector.received.length).toBeGreaterThan(0);
    expect(load.requests.map((request) => request.events)).toEqual(collector.received.slice(0, load.requests.length));
    expect(acceptedEvents(load, sent)).toHaveLength(
      collector.received.flat().filter((event) => !malformed(event)).length,
    );
  });

  it('paces the requests to the rate', async () => {
    const collector = await fakeCollector(accept());
    const load = prepareLoad({ ...shape, events: 400 }, { maxEvents: 400 });
    const sent = await sendLoad(load, { url: collector.url, rate: 2000, concurrency: 4 }, counters(), () => undefined);
    // 400 events at 2,000/s: the fourth request is due 150 ms after the start.
    expect(sent.endedAt - sent.startedAt).toBeGreaterThanOrEqual(145);
  });
});
