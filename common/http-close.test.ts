import Fastify from 'fastify';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { closePromptly, trackForPromptClose } from './http-close.js';
import { droppedWithin, openUnusedConnection, settlesWithin } from './test-support/idle-connections.js';

/** Longest a prompt close may take here; the connections below would hold it open for minutes. */
const PROMPT_MS = 2_000;

const settleWithin = (closing: Promise<unknown>) => settlesWithin(closing, PROMPT_MS);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function startApp() {
  const app = Fastify();
  closePromptly(app);
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  app.get('/slow', async () => {
    await released;
    return { answered: true };
  });
  app.get('/stream', async (_request, reply) => {
    reply.raw.writeHead(200, { 'content-type': 'text/plain' });
    reply.raw.write('first part;');
    await released;
    reply.raw.end('last part');
    return reply;
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: new URL(url), release };
}

/** A keep-alive GET; resolves with status, the connection header and the body. */
function get(url: URL, path: string, agent: http.Agent) {
  return new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    http
      .get(new URL(path, url), { agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body }),
        );
      })
      .on('error', reject);
  });
}

function keepAliveAgent() {
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
  cleanups.push(() => agent.destroy());
  return agent;
}

describe('closePromptly (a real Fastify server, real sockets)', () => {
  it('closes at once beside a connection that never sent a request (a browser’s preconnect), and drops it', async () => {
    const { app, url } = await startApp();
    const socket = await openUnusedConnection(url);
    cleanups.push(() => socket.destroy());

    expect(await settleWithin(app.close())).toBe('settled');
    expect(await droppedWithin(socket, PROMPT_MS)).toBe('dropped');
  });

  it('answers a keep-alive request in flight in full, with Connection: close, and then closes', async () => {
    const { app, url, release } = await startApp();
    const agent = keepAliveAgent();
    const answer = get(url, '/slow', agent);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the request is in the handler
    const closing = app.close();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the close has begun (its hooks run asynchronously)
    release();

    expect(await answer).toEqual({ status: 200, connection: 'close', body: '{"answered":true}' });
    expect(await settleWithin(closing)).toBe('settled');
  });

  it('lets a response already streaming when the close begins finish, then closes its idle connection', async () => {
    const { app, url, release } = await startApp();
    const agent = keepAliveAgent();
    const answer = get(url, '/stream', agent);
    await new Promise((resolve) => setTimeout(resolve, 100)); // headers sent with keep-alive
    const closing = app.close();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the close has begun
    release();

    expect(await answer).toMatchObject({ status: 200, connection: 'keep-alive', body: 'first part;last part' });
    expect(await settleWithin(closing)).toBe('settled');
  });

  it('still closes an idle keep-alive connection that had answered before the close', async () => {
    const { app, url, release } = await startApp();
    release();
    const agent = keepAliveAgent();
    expect((await get(url, '/slow', agent)).connection).toBe('keep-alive');

    expect(await settleWithin(app.close())).toBe('settled');
  });

  it('leaves keep-alive alone while the server is not closing: two requests, one connection', async () => {
    const { app, url, release } = await startApp();
    release();
    let connections = 0;
    app.server.on('connection', () => connections++);
    const agent = keepAliveAgent();
    await get(url, '/slow', agent);
    await new Promise((resolve) => setTimeout(resolve, 50)); // a turn for anything that would close the idle one
    await get(url, '/slow', agent);

    expect(connections).toBe(1);
    expect(await settleWithin(app.close())).toBe('settled');
  });

  it('drops a connection accepted after the close began and before the listener stopped (a plain node:http server)', async () => {
    const server = http.createServer((_request, response) => response.end('ok'));
    const beginClose = trackForPromptClose(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => server.close());
    beginClose(); // Fastify's preClose hooks run before its server stops listening

    const socket = await openUnusedConnection(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    cleanups.push(() => socket.destroy());
    expect(await droppedWithin(socket, PROMPT_MS)).toBe('dropped');
  });
});
