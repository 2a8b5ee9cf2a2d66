/**
 * Finds the JSON object in a model's text answer. Models are asked for bare JSON but may
 * wrap it in a ```json fence or a sentence; the object is taken from the first fenced
 * block that holds one, else from the first balanced `{…}` (braces inside strings do not
 * count). Pure; never throws.
 *
 * @example
 *   extractJsonObject('Here it is:\n```json\n{"a": 1}\n```') // { ok: true, value: { a: 1 } }
 *   extractJsonObject('I cannot help with that.')            // { ok: false, problem: 'no-json', … }
 */

export type JsonExtraction =
  { ok: true; value: Record<string, unknown> } | { ok: false; problem: 'no-json' | 'invalid-json'; message: string };

const FENCE = /```[A-Za-z0-9_-]*[ \t]*\r?\n([\s\S]*?)```/g;

/** The first balanced `{…}` starting at or after `from`, or undefined. */
function balancedObject(text: string, from: number): string | undefined {
  const start = text.indexOf('{', from);
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let index = start; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      if (char === '\\') index++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) return text.slice(start, index + 1);
  }
  return text.slice(start); // unbalanced: let JSON.parse say where it breaks
}

function parseObject(candidate: string): JsonExtraction {
  try {
    const value: unknown = JSON.parse(candidate);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { ok: false, problem: 'invalid-json', message: 'the JSON is not an object' };
    }
    return { ok: true, value: value as Record<string, unknown> };
  } catch (error) {
    return { ok: false, problem: 'invalid-json', message: `the JSON does not parse: ${(error as Error).message}` };
  }
}

/** Extracts and parses the JSON object of a model's answer (see the module comment). */
export function extractJsonObject(text: string): JsonExtraction {
  let firstFailure: JsonExtraction | undefined;
  for (const match of text.matchAll(FENCE)) {
    const inner = match[1] ?? '';
    const candidate = balancedObject(inner, 0);
    if (candidate === undefined) continue;
    const parsed = parseObject(candidate);
    if (parsed.ok) return parsed;
    firstFailure ??= parsed;
  }
  if (firstFailure) return firstFailure;
  const candidate = balancedObject(text, 0);
  if (candidate === undefined) {
    return { ok: false, problem: 'no-json', message: 'the answer contains no JSON object' };
  }
  return parseObject(candidate);
}
