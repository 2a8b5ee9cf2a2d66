/**
 * Local stand-ins for AWS: kinesalite (Kinesis) and dynalite (DynamoDB), each started
 * as its own child process so it gets its own core and event loop. Used by `npm start`,
 * the integration tests and the benchmarks.
 *
 * @example
 *   const kinesis = await startStandIn('kinesalite');
 *   // … AWS_ENDPOINT_URL_KINESIS = kinesis.endpoint …
 *   await kinesis.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type StandInKind = 'kinesalite' | 'dynalite';

export interface StandIn {
  readonly kind: StandInKind;
  readonly endpoint: string;
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export interface StandInOptions {
  port?: number;
  /** LevelDB directory for a persistent store; in-memory when omitted. */
  dataPath?: string;
  /** How long to wait for the port to answer. */
  startTimeoutMs?: number;
}

const require = createRequire(import.meta.url);

function cliPath(kind: StandInKind): string {
  const packageJson = require.resolve(`${kind}/package.json`);
  return join(dirname(packageJson), 'cli.js');
}

/**
 * The stand-in's command line. dynalite's CLI takes `--host`; kinesalite's CLI always
 * listens on every interface, so it is started through its module API on 127.0.0.1.
 */
function standInArgs(kind: StandInKind, port: number, dataPath: string | undefined): string[] {
  if (kind === 'dynalite') {
    const args = [cliPath(kind), '--port', String(port), '--host', '127.0.0.1'];
    args.push('--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0');
    return dataPath ? [...args, '--path', dataPath] : args;
  }
  const options = {
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 1000,
    ...(dataPath ? { path: dataPath } : {}),
  };
  const modulePath = require.resolve('kinesalite');
  const script = `require(${JSON.stringify(modulePath)})(${JSON.stringify(options)}).listen(${port}, '127.0.0.1')`;
  return ['--input-type=commonjs', '--eval', script];
}

/** Asks the OS for a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`stand-in exited with code ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`stand-in did not listen on ${port} within ${timeoutMs} ms`);
}

/** Starts kinesalite or dynalite on 127.0.0.1 with zero state-transition delays (streams and tables are ACTIVE at once). */
export async function startStandIn(kind: StandInKind, options: StandInOptions = {}): Promise<StandIn> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, standInArgs(kind, port, options.dataPath), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, child, options.startTimeoutMs ?? 15_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${kind} failed to start: ${(error as Error).message}\n${stderr}`, { cause: error });
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return { kind, endpoint: `http://127.0.0.1:${port}`, port, process: child, stop };
}
