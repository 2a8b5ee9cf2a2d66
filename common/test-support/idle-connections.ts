/**
 * Test support: what holds an HTTP server's close open. A browser opens connections it has not
 * used yet (Chromium's preconnects) and keeps them for minutes; `openUnusedConnection` opens one
 * the same way (TCP, no request), and `settlesWithin` tells whether a close finished in time
 * instead of letting the test time out with no word on what hung.
 *
 * @example
 *   const socket = await openUnusedConnection(api.url);
 *   expect(await settlesWithin(api.stop(), 2_000)).toBe('settled');
 *   expect(await droppedWithin(socket, 2_000)).toBe('dropped'); // the server dropped it
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** A TCP connection to `url`'s host and port that sends nothing; resolves once the server has accepted it. */
export async function openUnusedConnection(url: string | URL): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  // The client's connect comes before the server's accept: give the server's loop a turn to take it.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return socket;
}

/** 'settled' once `work` resolves, `failed: <message>` if it rejects, or 'still pending' after `ms`. */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<string> {
  return Promise.race([
    work.then(
      () => 'settled',
      (error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`,
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('still pending'), ms).unref()),
  ]);
}

/**
 * Awaits `work` (a server's close), failing with `<what> did not close within <ms> ms` instead
 * of leaving the test to time out without saying what hung.
 */
export async function closesWithin(what: string, work: Promise<unknown>, ms: number): Promise<void> {
  const outcome = await settlesWithin(work, ms);
  if (outcome === 'still pending') throw new Error(`${what} did not close within ${ms} ms`);
  await work; // a failed close fails here, with its own error
}

/** Whether the server dropped `socket` within `ms`: 'dropped' or 'still open'. */
export async function droppedWithin(socket: Socket, ms: number): Promise<'dropped' | 'still open'> {
  if (socket.closed) return 'dropped';
  const settled = await settlesWithin(once(socket, 'close'), ms);
  return settled === 'settled' ? 'dropped' : 'still open';
}
