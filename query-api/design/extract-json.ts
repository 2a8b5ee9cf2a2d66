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

/** A fence's opening line; its block ends at the next ``` that is not inside the object's strings. */
const FENCE_OPENING = /```[A-Za-z0-9_-]*[ \t]*\r?\n/g;
const FENCE_MARK = '```';

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

/**
 * The object of each fenced block in order: the balanced `{…}` that starts inside the block
 * (before its closing mark). Strings in the object may hold ``` themselves: the object's end is
 * found by its braces, and the block's closing mark is looked for after it.
 */
function* fencedObjects(text: string): Generator<string> {
  const opening = new RegExp(FENCE_OPENING.source, 'g');
  for (let match = opening.exec(text); match !== null; match = opening.exec(text)) {
    const contentStart = match.index + match[0].length;
    const objectStart = text.indexOf('{', contentStart);
    const close = text.indexOf(FENCE_MARK, contentStart);
    if (close < 0) return; // an unclosed fence: the whole-text fallback decides
    if (objectStart < 0 || objectStart > close) {
      opening.lastIndex = close + FENCE_MARK.length; // a block without an object (its closing mark is no opening)
      continue;
    }
    const candidate = balancedObject(text, contentStart) as string;
    yield candidate;
    const afterObject = objectStart + candidate.length;
    const closeAfterObject = text.indexOf(FENCE_MARK, afterObject);
    if (closeAfterObject < 0) return;
    opening.lastIndex = closeAfterObject + FENCE_MARK.length;
  }
}

/** Extracts and parses the JSON object of a model's answer (see the module comment). */
export function extractJsonObject(text: string): JsonExtraction {
  let firstFailure: JsonExtraction | undefined;
  for (const candidate of fencedObjects(text)) {
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
