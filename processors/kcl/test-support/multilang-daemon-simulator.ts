/**
 * Speaks the KCL MultiLang protocol to a record-processor child process the way the Java
 * daemon does (which cannot run here): one JSON action per line on the child's stdin,
 * JSON lines back on its stdout (`status` replies and `checkpoint` requests).
 * Not a test file itself.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A JSON action on the wire. */
export type MultiLangMessage = { action: string } & Record<string, unknown>;

/** The daemon side of one record-processor process. */
export class MultiLangDaemonSimulator {
  private readonly received: MultiLangMessage[] = [];
  private waiting: ((message: MultiLangMessage) => void) | undefined;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.trim() === '') return; // aws-kcl frames each message with blank lines
      const message = JSON.parse(line) as MultiLangMessage;
      const waiter = this.waiting;
      if (waiter) {
        this.waiting = undefined;
        waiter(message);
      } else {
        this.received.push(message);
      }
    });
  }

  /** Sends one action to the record processor. */
  send(message: MultiLangMessage): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  /** The next message the record processor writes, or an error after `timeoutMs`. */
  next(timeoutMs = 30_000): Promise<MultiLangMessage> {
    const queued = this.received.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no MultiLang message from the record processor within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (message) => {
        clearTimeout(timer);
        resolve(message);
      };
    });
  }
}
