/**
 * Test support: Signature Version 4 checked the way AWS checks it, for the fakes of AWS services
 * (fake-secrets-manager.ts, fake-dynamodb.ts): the canonical request is rebuilt from what was
 * received (method, path, query, the headers the client says it signed, the body's hash) and
 * signed again with the secret of the access key the request names.
 */
import { createHash, createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Credentials the fake accepts (they never leave the machine). */
export const FAKE_AWS_CREDENTIALS = { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake-secret' };

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/** Recomputes the request's SigV4 signature from what was received; true when it matches. */
export function signatureMatches(
  request: IncomingMessage,
  body: string,
  credentials: { accessKeyId: string; secretAccessKey: string } = FAKE_AWS_CREDENTIALS,
): boolean {
  const match = AUTHORIZATION.exec(String(request.headers.authorization ?? ''));
  if (!match) return false;
  const [, accessKeyId, day = '', region = '', service = '', signedHeaderList = '', signature] = match;
  if (accessKeyId !== credentials.accessKeyId) return false;
  const amzDate = String(request.headers['x-amz-date'] ?? '');
  const names = signedHeaderList.split(';');
  const url = new URL(request.url ?? '/', 'http://fake');
  const canonicalRequest = [
    request.method,
    url.pathname,
    url.searchParams.toString(),
    ...names.map((name) => `${name}:${String(request.headers[name] ?? '').trim()}`),
    '',
    signedHeaderList,
    createHash('sha256').update(body).digest('hex'),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key: Buffer | string = `AWS4${credentials.secretAccessKey}`;
  for (const part of [day, region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex') === signature;
}

/** The request's body as UTF-8 text. */
export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
