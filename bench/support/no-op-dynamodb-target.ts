/**
 * The no-op DynamoDB endpoint (no-op-dynamodb.ts) as a child process of the pipeline bench, so its
 * answers do not wait on the load generator's event loop and its CPU is counted apart: prints
 * `{"ready": "<endpoint>"}` when listening, then `{"requests": {<operation>: <count>}}` at most every
 * 250 ms while they change; stops on SIGTERM.
 */
import { startNoOpDynamoDB } from './no-op-dynamodb.js';

async function main(): Promise<void> {
  const noOp = await startNoOpDynamoDB();
  process.stdout.write(`${JSON.stringify({ ready: noOp.endpoint })}\n`);
  let reported = '';
  const report = () => {
    const counts = JSON.stringify(noOp.requests);
    if (counts !== reported) process.stdout.write(`${JSON.stringify({ requests: noOp.requests })}\n`);
    reported = counts;
  };
  const timer = setInterval(report, 250);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    report();
    noOp.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`no-op DynamoDB target failed: ${String(error)}\n`);
  process.exit(1);
});
