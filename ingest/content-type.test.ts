import { describe, expect, it } from 'vitest';
import { isPipelineError } from '../common/errors.js';
import { requestBodyFormat } from './content-type.js';

const refusal = (contentType: string | undefined): unknown => {
  try {
    requestBodyFormat(contentType);
  } catch (error) {
    return isPipelineError(error) ? { status: error.statusCode, details: error.details } : error;
  }
  return undefined;
};

describe('requestBodyFormat', () => {
  it('reads JSON and NDJSON in UTF-8, however the charset is spelled', () => {
    expect(requestBodyFormat('application/json')).toBe('json');
    expect(requestBodyFormat('Application/JSON; charset=UTF-8')).toBe('json');
    expect(requestBodyFormat('application/json;charset="utf8"')).toBe('json');
    expect(requestBodyFormat('application/json; CHARSET = utf-8 ; foo=bar')).toBe('json');
    expect(requestBodyFormat('application/x-ndjson; charset=utf-8')).toBe('ndjson');
    expect(requestBodyFormat('application/ndjson')).toBe('ndjson');
  });

  it('refuses any other charset with 415 rule charset, even beside a UTF-8 one', () => {
    for (const contentType of [
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/json; charset',
      'application/json; charset=""',
      'application/json; charset=utf-8; charset=utf-16',
    ]) {
      expect(refusal(contentType)).toMatchObject({ status: 415, details: { rule: 'charset' } });
    }
  });

  it('refuses other or missing media types with 415 rule media-type, object keys included', () => {
    for (const contentType of [undefined, '', 'text/plain', 'application/jsonx', '__proto__', 'constructor']) {
      expect(refusal(contentType)).toEqual({ status: 415, details: { rule: 'media-type' } });
    }
  });

  it('quotes a hostile header back cut short', () => {
    try {
      requestBodyFormat(`application/json; charset=${'x'.repeat(10_000)}`);
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(200);
      return;
    }
    expect.unreachable('a 10,000-character charset was accepted');
  });

  it('answers a header read again as the first time, whichever headers came between', () => {
    const headers = ['application/x-ndjson', 'application/json; charset=latin1', 'application/json', 'text/plain'];
    const first = headers.map((header) => refusal(header) ?? requestBodyFormat(header));
    expect(first).toEqual([
      'ndjson',
      { status: 415, details: { rule: 'charset', charset: 'latin1' } },
      'json',
      { status: 415, details: { rule: 'media-type' } },
    ]);
    for (const round of [1, 2]) {
      for (const [i, header] of [...headers, ...headers.slice().reverse()].entries()) {
        const expected = first[headers.indexOf(header)];
        expect(refusal(header) ?? requestBodyFormat(header), `round ${round}, ${i}: ${header}`).toEqual(expected);
      }
    }
    expect(refusal(undefined)).toEqual({ status: 415, details: { rule: 'media-type' } });
  });
});
