import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { runMain, stopOnSignals, type ProcessLike } from './lifecycle.js';

function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  let stderr = '';
  const proc: ProcessLike = {
    on: (signal, listener) => emitter.on(signal, listener),
    exit: (code) => void exits.push(code),
    stderr: { write: (text: string) => (stderr += text) },
  };
  const logs: string[] = [];
  const logger = {
    info: (...args: unknown[]) => void logs.push(String(args.at(-1))),
    warn: (...args: unknown[]) => void logs.push(String(args.at(-1))),
    error: (...args: unknown[]) => void logs.push(String(args.at(-1))),
  };
  return { emitter, exits, proc, logger, logs, stderr: () => stderr };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('stopOnSignals', () => {
  it.each(['SIGTERM', 'SIGINT'])('stops once on %s, then exits 0', async (signal) => {
    const fake = fakeProcess();
    let stops = 0;
    stopOnSignals(() => Promise.resolve(void stops++), { logger: fake.logger as never, process: fake.proc });
    expect(fake.exits).toEqual([]);
    fake.emitter.emit(signal);
    await tick();
    expect(stops).toBe(1);
    expect(fake.exits).toEqual([0]);
    expect(fake.logs).toEqual(['stopping: finishing the work in hand', 'stopped']);
  });

  it('exits 1 when the stop fails, after logging why', async () => {
    const fake = fakeProcess();
    stopOnSignals(() => Promise.reject(new Error('drain failed')), {
      logger: fake.logger as never,
      process: fake.proc,
    });
    fake.emitter.emit('SIGTERM');
    await tick();
    expect(fake.exits).toEqual([1]);
    expect(fake.logs.at(-1)).toBe('stop failed');
  });

  it('exits 1 at once on a second signal while the first stop is still running, and stops only once', async () => {
    const fake = fakeProcess();
    let stops = 0;
    let finish: () => void = () => undefined;
    stopOnSignals(
      () => {
        stops++;
        return new Promise<void>((resolve) => (finish = resolve));
      },
      { logger: fake.logger as never, process: fake.proc },
    );
    fake.emitter.emit('SIGTERM');
    fake.emitter.emit('SIGINT');
    expect(stops).toBe(1);
    expect(fake.exits).toEqual([1]);
    finish();
    await tick();
    expect(fake.exits).toEqual([1, 0]);
  });
});

describe('runMain', () => {
  it('reports a start-up failure on stderr with the component name and exits 1', async () => {
    const fake = fakeProcess();
    runMain('collector', () => Promise.reject(new Error('INGEST_PORT must be an integer')), fake.proc);
    await tick();
    expect(fake.stderr()).toBe('collector failed to start: INGEST_PORT must be an integer\n');
    expect(fake.exits).toEqual([1]);
  });

  it('does nothing more when main resolves', async () => {
    const fake = fakeProcess();
    runMain('collector', () => Promise.resolve(), fake.proc);
    await tick();
    expect(fake.exits).toEqual([]);
  });
});
