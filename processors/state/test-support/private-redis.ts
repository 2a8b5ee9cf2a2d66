/**
 * A private `redis-server` on a free loopback port, for tests that must restart, flush or
 * reconfigure Redis without touching the shared one other test files use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../../local/stand-ins.js';

export interface PrivateRedis {
  url: string;
  /** Stops the server (SIGKILL: nothing is saved) and starts an empty one on the same port. */
  restartEmpty(): Promise<void>;
  stop(): Promise<void>;
}

async function waitForPing(url: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined); // refused while the server starts: retried below
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch (error) {
      if (Date.now() > until) throw error;
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A one-node cluster owning every slot: what a one-shard MemoryDB cluster looks like to a client. */
async function claimAllSlots(url: string, deadlineMs: number): Promise<void> {
  const client = new Redis(url, { lazyConnect: true });
  try {
    await client.connect();
    await client.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    const until = Date.now() + deadlineMs;
    while (!/cluster_state:ok/.test(String(await client.call('CLUSTER', 'INFO')))) {
      if (Date.now() > until) throw new Error('the private Redis cluster did not reach cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    client.disconnect();
  }
}

/**
 * Starts `redis-server` (no persistence) with extra `--name value` arguments; waits until it
 * answers PING. With `cluster`, a one-node cluster that owns all 16,384 slots.
 */
export async function startPrivateRedis(extraArgs: string[] = [], cluster = false): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const directory = mkdtempSync(join(tmpdir(), 'private-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    rmSync(join(directory, 'nodes.conf'), { force: true });
    const clusterArgs = cluster
      ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1']
      : [];
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        directory,
        ...clusterArgs,
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    );
    await waitForPing(url, 10_000);
    if (cluster) await claimAllSlots(url, 10_000);
  };
  const stop = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    restartEmpty: async () => {
      await stop();
      await start();
    },
    stop: async () => {
      await stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
