/**
 * Test support: a fake AWS Secrets Manager on 127.0.0.1 that speaks the real wire protocol
 * of `GetSecretValue` (AWS JSON 1.1: `POST /`, `X-Amz-Target: secretsmanager.GetSecretValue`,
 * a SigV4 `Authorization` header, `{"SecretId":…}` in, `{ARN, Name, SecretString,
 * VersionId, …}` out, `{"__type":"ResourceNotFoundException",…}` with status 400 for an
 * unknown secret). It checks each request's Signature Version 4 against FAKE_AWS_CREDENTIALS
 * the way AWS does (canonical request from the headers the client says it signed), answering
 * 403 `InvalidSignatureException` on a mismatch. Tests change a secret's value (a rotation)
 * with `put` and count reads.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody, signatureMatches } from './sigv4-verify.js';

export { FAKE_AWS_CREDENTIALS } from './sigv4-verify.js';

export interface FakeSecretsManager {
  /** `http://127.0.0.1:<port>`, for the client's `endpoint`. */
  readonly endpoint: string;
  /** Creates or rotates a secret (a new version id each time). */
  put(secretId: string, secretString: string): void;
  /** GetSecretValue calls per secret id. */
  reads(secretId: string): number;
  /** Every request's target header, in order (to check the SDK spoke the real protocol). */
  readonly targets: string[];
  close(): Promise<void>;
}

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
  response.end(JSON.stringify(body));
}

/** Starts the fake on an ephemeral port. */
export async function startFakeSecretsManager(): Promise<FakeSecretsManager> {
  const secrets = new Map<string, { value: string; versionId: string }>();
  const readCounts = new Map<string, number>();
  const targets: string[] = [];
  const server = createServer((request, response) => {
    void (async () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      targets.push(target);
      const body = await readBody(request);
      if (request.method !== 'POST' || !signatureMatches(request, body)) {
        send(response, 403, {
          __type: 'InvalidSignatureException',
          message: 'The request signature we calculated does not match the signature you provided.',
        });
        return;
      }
      if (target !== 'secretsmanager.GetSecretValue') {
        send(response, 400, { __type: 'UnknownOperationException', message: `unsupported ${target}` });
        return;
      }
      const { SecretId: secretId } = JSON.parse(body) as { SecretId?: string };
      if (typeof secretId !== 'string') {
        send(response, 400, { __type: 'InvalidParameterException', message: 'SecretId is required' });
        return;
      }
      readCounts.set(secretId, (readCounts.get(secretId) ?? 0) + 1);
      const secret = secrets.get(secretId);
      if (!secret) {
        send(response, 400, {
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        });
        return;
      }
      const name = secretId.startsWith('arn:') ? (secretId.split(':secret:')[1] ?? secretId) : secretId;
      send(response, 200, {
        ARN: secretId.startsWith('arn:')
          ? secretId
          : `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`,
        Name: name,
        SecretString: secret.value,
        VersionId: secret.versionId,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Date.now() / 1000,
      });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    put(secretId, secretString) {
      secrets.set(secretId, { value: secretString, versionId: randomUUID() });
    },
    reads: (secretId) => readCounts.get(secretId) ?? 0,
    targets,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
