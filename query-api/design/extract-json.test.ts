import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractJsonObject } from './extract-json.js';

describe('extractJsonObject', () => {
  it('takes bare JSON, a ```json fence, a bare fence, and JSON inside prose', () => {
    expect(extractJsonObject('{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(extractJsonObject('Here you go:\n```json\n{"a": 2}\n```\nGood luck!')).toEqual({
      ok: true,
      value: { a: 2 },
    });
    expect(extractJsonObject('```\n{"a": 3}\n```')).toEqual({ ok: true, value: { a: 3 } });
    expect(extractJsonObject('Sure. {"a": {"b": [4]}} Hope this helps.')).toEqual({
      ok: true,
      value: { a: { b: [4] } },
    });
  });

  it('braces and quotes inside strings do not end the object', () => {
    const text = 'Draft: {"name": "Use {curly} \\"quotes\\" }", "n": 1} trailing }';
    expect(extractJsonObject(text)).toEqual({ ok: true, value: { name: 'Use {curly} "quotes" }', n: 1 } });
  });

  it('prefers the first fence that holds a valid object over an earlier broken one', () => {
    const text = '```json\n{"a": 1,}\n```\nCorrected:\n```json\n{"a": 5}\n```';
    expect(extractJsonObject(text)).toEqual({ ok: true, value: { a: 5 } });
  });

  it('no JSON at all → no-json', () => {
    expect(extractJsonObject('I would test a shorter signup form.')).toMatchObject({ ok: false, problem: 'no-json' });
    expect(extractJsonObject('')).toMatchObject({ ok: false, problem: 'no-json' });
  });

  it('broken JSON → invalid-json with the parser’s reason', () => {
    expect(extractJsonObject('{"a": 1,}')).toMatchObject({ ok: false, problem: 'invalid-json' });
    expect(extractJsonObject('{"a": 1')).toMatchObject({ ok: false, problem: 'invalid-json' });
    expect(extractJsonObject('```json\n{"a": tru}\n```')).toMatchObject({
      ok: false,
      problem: 'invalid-json',
      message: expect.stringContaining('does not parse'),
    });
  });

  it('an array is not an object', () => {
    expect(extractJsonObject('```json\n[{"a": 1}]\n```')).toMatchObject({ ok: true, value: { a: 1 } });
    expect(extractJsonObject('[1, 2]')).toMatchObject({ ok: false, problem: 'no-json' });
  });

  it('keeps a string holding ``` inside a fenced object (a fast-check counterexample of CI)', () => {
    const object = { '': { '': { '```': 0 } } };
    const text = `\n\`\`\`json\n${JSON.stringify(object, null, 2)}\n\`\`\`\n`;
    expect(extractJsonObject(text)).toEqual({ ok: true, value: object });
    expect(extractJsonObject('```json\n{"code": "```js\\nx()\\n```"}\n```')).toEqual({
      ok: true,
      value: { code: '```js\nx()\n```' },
    });
  });

  it('takes the first fenced block holding an object, past blocks without one', () => {
    const text = 'Setup:\n```bash\nnpm start\n```\nThe design:\n```json\n{"a": 1}\n```\nor {"b": 2}';
    expect(extractJsonObject(text)).toEqual({ ok: true, value: { a: 1 } });
    expect(extractJsonObject('```json\n{"a": 1')).toMatchObject({ ok: false, problem: 'invalid-json' });
  });

  it('property: any JSON object survives being wrapped in prose or a fence', () => {
    const prose = fc.string().map((s) => s.replace(/[{}`]/g, ''));
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue()),
        prose,
        prose,
        fc.boolean(),
        (object, before, after, fenced) => {
          const json = JSON.stringify(object, null, fenced ? 2 : undefined);
          const text = fenced ? `${before}\n\`\`\`json\n${json}\n\`\`\`\n${after}` : `${before} ${json} ${after}`;
          const extracted = extractJsonObject(text);
          expect(extracted.ok).toBe(true);
          if (extracted.ok) expect(JSON.stringify(extracted.value)).toBe(JSON.stringify(JSON.parse(json)));
        },
      ),
      { numRuns: 300 },
    );
  });
});
