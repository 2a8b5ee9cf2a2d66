/**
 * A prompt and graceful close for every HTTP listener of the services (collector, query API,
 * metrics): requests in hand are answered in full, and nothing else holds the close open.
 *
 * Node 20's `server.close()` (and Fastify's `close()`, which calls it) waits for every open
 * connection to end, and two kinds never do on their own (both measured on Node 20 with
 * Fastify 5.12: the close was still waiting after 3 s, until the client let go):
 * - a connection that has not sent a request yet: browsers open them speculatively
 *   (Chromium's preconnects), and `closeIdleConnections` does not count them as idle
 *   (nodejs/node#63452); a browser keeps one for minutes;
 * - a keep-alive connection whose request was in flight when the close began: answered with
 *   `Connection: keep-alive`, it then idles until the client's or the server's keep-alive
 *   timeout (Fastify's default is 72 s), because Node closes idle connections only once, when
 *   the close begins (fastify/fastify#7044).
 * In ECS that is a task that waits out its stop timeout and is killed; in tests, a hang.
 *
 * So, once the close begins: connections that never sent a request are destroyed (nothing is in
 * flight on them), responses not yet started carry `Connection: close`, and each response that
 * ends closes the connections left idle. Requests in flight are never cut.
 *
 * @example
 *   const app = Fastify();
 *   closePromptly(app); // before listen
 *   await app.listen({ port: 0 });
 *   await app.close();  // resolves once the requests in hand are answered
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Tracks `server`'s connections and responses; the returned function begins the prompt close
 * (call it when the close begins, before or after `server.close()`).
 */
export function trackForPromptClose(server: Server): () => void {
  /** Open connections that have not sent a request yet. */
  const unused = new Set<Socket>();
  /** Responses not finished yet. */
  const inFlight = new Set<ServerResponse>();
  let closing = false;

  server.on('connection', (socket: Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  // After the close began, a connection can still bring a request only if its answer in hand had begun before
  // (with keep-alive): that request is answered too, and its end closes the connection like any other.
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    unused.delete(request.socket);
    inFlight.add(response);
    // 'close' comes after the response ended, or when its connection was cut.
    response.once('close', () => {
      inFlight.delete(response);
      // A keep-alive connection answered after the close began is idle now: nothing else would close it.
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });

  return () => {
    closing = true;
    for (const socket of unused) socket.destroy();
    unused.clear();
    for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close');
    server.closeIdleConnections();
  };
}

/**
 * Tracks a plain `node:http` server (before it listens) and returns its prompt close: stops listening,
 * begins the prompt close, and resolves once the server has closed.
 *
 * @example
 *   const close = promptCloser(server);
 *   server.listen(0);
 *   await close();
 */
export function promptCloser(server: Server): () => Promise<void> {
  const beginClose = trackForPromptClose(server);
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      beginClose();
    });
}

/** The part of a Fastify instance `closePromptly` uses. */
interface ClosableApp {
  readonly server: Server;
  addHook(name: 'preClose', hook: (done: (error?: Error) => void) => void): unknown;
}

/** Makes a Fastify app's `close()` prompt (see the module comment); call it before `listen`. */
export function closePromptly(app: ClosableApp): void {
  const beginClose = trackForPromptClose(app.server);
  app.addHook('preClose', (done) => {
    beginClose();
    done();
  });
}
