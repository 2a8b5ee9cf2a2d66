/**
 * Test support: a local fake of CloudWatch's `GetMetricData` as the AWS SDK v3 calls it —
 * the AWS JSON 1.0 protocol in its query-compatible mode (`POST /`,
 * `content-type: application/x-amz-json-1.0`, `x-amz-target:
 * GraniteServiceVersion20100801.GetMetricData`, `x-amzn-query-mode: true`, SigV4 for the
 * `monitoring` service). A request of another shape gets CloudWatch's own error answer
 * (`UnknownOperationException`, `MissingAuthenticationTokenException`); a well-formed one is
 * answered from `metrics` (values per query id, newest first) or an error scripted with
 * `fail`, the way CloudWatch sends them (`__type` body plus `x-amzn-query-error: Code;Sender`).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/** One GetMetricData request as received. */
export interface ReceivedMetricDataRequest {
  headers: IncomingHttpHeaders;
  body: {
    MetricDataQueries?: {
      Id?: string;
      MetricStat?: {
        Metric?: { Namespace?: string; MetricName?: string; Dimensions?: { Name: string; Value: string }[] };
        Period?: number;
        Stat?: string;
      };
    }[];
    StartTime?: number;
    EndTime?: number;
    ScanBy?: string;
    NextToken?: string;
  };
}

export interface FakeCloudWatch {
  /** AWS_ENDPOINT_URL_CLOUDWATCH. */
  url: string;
  requests: ReceivedMetricDataRequest[];
  /** Values per query id, newest first; ids not named answer no data points. */
  metrics: Record<string, number[]>;
  /** Answers the next request with this error (HTTP status, query-compatible code), once. */
  fail(status: number, code: string, message: string): void;
  close(): Promise<void>;
}

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';
const TARGET = 'GraniteServiceVersion20100801.GetMetricData';
const SIGV4 =
  /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/monitoring\/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-target[a-z0-9;-]*, Signature=[0-9a-f]{64}$/;

/** Starts the fake on 127.0.0.1 (a free port). */
export async function startFakeCloudWatch(): Promise<FakeCloudWatch> {
  const requests: ReceivedMetricDataRequest[] = [];
  let failure: { status: number; code: string; message: string } | undefined;
  const fake: Omit<FakeCloudWatch, 'url' | 'close'> & { fail: FakeCloudWatch['fail'] } = {
    requests,
    metrics: {},
    fail(status, code, message) {
      failure = { status, code, message };
    },
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        response.writeHead(status, { 'content-type': JSON_CONTENT_TYPE, ...headers }).end(JSON.stringify(body));
      const error = (status: number, type: string, code: string, message: string) =>
        answer(
          status,
          { __type: `com.amazonaws.cloudwatch#${type}`, message },
          { 'x-amzn-query-error': `${code};Sender` },
        );
      if (
        request.method !== 'POST' ||
        request.url !== '/' ||
        request.headers['content-type'] !== JSON_CONTENT_TYPE ||
        request.headers['x-amz-target'] !== TARGET
      ) {
        error(400, 'UnknownOperationException', 'UnknownOperation', 'not a GetMetricData call');
        return;
      }
      if (!SIGV4.test(request.headers.authorization ?? '') || !request.headers['x-amz-date']) {
        error(403, 'MissingAuthenticationTokenException', 'MissingAuthenticationToken', 'no SigV4 signature');
        return;
      }
      let body: ReceivedMetricDataRequest['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedMetricDataRequest['body'];
      } catch {
        error(400, 'SerializationException', 'SerializationException', 'body is not JSON');
        return;
      }
      requests.push({ headers: request.headers, body });
      if (failure) {
        const { status, code, message } = failure;
        failure = undefined;
        error(status, `${code}Exception`, code, message);
        return;
      }
      const end = body.EndTime ?? 0;
      answer(200, {
        MetricDataResults: (body.MetricDataQueries ?? []).map((query) => {
          const values = fake.metrics[query.Id ?? ''] ?? [];
          return {
            Id: query.Id,
            Label: query.MetricStat?.Metric?.MetricName,
            Timestamps: values.map((_, index) => end - 60 * (index + 1)),
            Values: values,
            StatusCode: 'Complete',
          };
        }),
        Messages: [],
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
