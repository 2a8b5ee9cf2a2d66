/**
 * Save-time proof that a targeting regex runs in linear time on JavaScript's backtracking
 * engine, so no stored rule can be turned against the edge (which matches rules against the
 * viewer-controlled User-Agent and path) or the Lambdas.
 *
 * The proof comes from recheck (https://makenowjust-labs.github.io/recheck/), run with its
 * automaton-based checker only: that checker decides the worst-case complexity of a pure
 * regular expression exactly (constant, linear, polynomial of degree k, exponential) under
 * the same search semantics as `RegExp.prototype.test`. Its fuzzing checker, which recheck
 * would otherwise fall back to for look-arounds and back-references, only finds attacks it
 * happens to try, so those features are refused instead of guessed about.
 *
 * Verdicts: `linear` (constant, linear or "safe") is accepted; `polynomial` and
 * `exponential` are refused as `regex-unsafe`; look-arounds and back-references as
 * `regex-unsupported`; a check that does not finish within `REGEX_CHECK_TIMEOUT_MS` (or
 * fails) as `regex-unverifiable`. Evaluation additionally refuses inputs longer than
 * `TARGETING_LIMITS.maxRegexInputLength`, so an accepted pattern does bounded work.
 *
 * recheck (about 3 MB of JavaScript plus a native helper) is loaded on the first check, so
 * modules that import the rule schema (the Lambdas, the processors) never load it, and it is
 * never part of the edge bundle, which imports only `targeting-evaluation.ts`.
 */
import { createRequire } from 'node:module';

/**
 * Upper bound of the checks of one rule (all its patterns together). Checks run when a
 * definition is saved, never per request; typical patterns take a few milliseconds.
 */
export const REGEX_CHECK_TIMEOUT_MS = 2_000;

export type RegexSafetyVerdict =
  | { safe: true; complexity: 'constant' | 'linear' | 'safe' }
  | {
      safe: false;
      rule: 'regex-unsafe' | 'regex-unsupported' | 'regex-unverifiable';
      /** Completes "… {path} …": e.g. `can take exponential time on inputs like "aaaa…!"`. */
      reason: string;
    };

/**
 * The subset of recheck's `Diagnostics` this module reads (see recheck's index.d.ts: a
 * vulnerable verdict always carries an attack, and every error but a timeout or a
 * cancellation a message).
 */
type RecheckDiagnostics =
  | { status: 'safe'; checker?: string; complexity: { type: 'constant' | 'linear' | 'safe' } }
  | {
      status: 'vulnerable';
      checker?: string;
      complexity: { type: 'polynomial' | 'exponential'; summary: string; degree?: number };
      attack: { pattern: string };
    }
  | {
      status: 'unknown';
      error: { kind: 'unsupported' | 'invalid' | 'unexpected'; message: string } | { kind: 'timeout' | 'cancel' };
    };

type CheckSync = (source: string, flags: string, params: Record<string, unknown>) => RecheckDiagnostics;

let checkSync: CheckSync | undefined;

function loadRecheck(): CheckSync {
  checkSync ??= (createRequire(import.meta.url)('recheck') as { checkSync: CheckSync }).checkSync;
  return checkSync;
}

const verdicts = new Map<string, RegexSafetyVerdict>();
const MAX_CACHED_VERDICTS = 1_000;

function describeAttack(pattern: string): string {
  return pattern.length > 60 ? `${pattern.slice(0, 57)}...` : pattern;
}

function toVerdict(diagnostics: RecheckDiagnostics): RegexSafetyVerdict {
  switch (diagnostics.status) {
    case 'safe':
      return { safe: true, complexity: diagnostics.complexity.type };
    case 'vulnerable': {
      const { complexity } = diagnostics;
      const what = complexity.type === 'exponential' ? 'exponential' : `polynomial (${complexity.summary})`;
      return {
        safe: false,
        rule: 'regex-unsafe',
        reason: `can take ${what} time on inputs like ${describeAttack(diagnostics.attack.pattern)}; only patterns proven linear are accepted`,
      };
    }
    case 'unknown': {
      const { error } = diagnostics;
      if (error.kind === 'unsupported')
        return {
          safe: false,
          rule: 'regex-unsupported',
          reason: `uses a ${error.message}, which cannot be proven to run in linear time; use a plain regular expression`,
        };
      if (error.kind === 'invalid')
        return { safe: false, rule: 'regex-unsupported', reason: `is not supported: ${error.message}` };
      return {
        safe: false,
        rule: 'regex-unverifiable',
        reason: `could not be proven to run in linear time (${error.kind}); simplify the pattern`,
      };
    }
  }
}

/**
 * Decides whether `pattern` (with the `i` flag when `ignoreCase`) runs in linear time on a
 * backtracking engine, within `timeoutMs`. Verdicts are cached per pattern and flags (bounded).
 *
 * @example
 *   checkRegexSafety('^a*a*a*a*a*a*$', false)
 *   // { safe: false, rule: 'regex-unsafe', reason: 'can take polynomial (6th degree polynomial) time …' }
 *   checkRegexSafety('@example\\.com$', true) // { safe: true, complexity: 'safe' }
 */
export function checkRegexSafety(
  pattern: string,
  ignoreCase: boolean,
  timeoutMs: number = REGEX_CHECK_TIMEOUT_MS,
): RegexSafetyVerdict {
  const flags = ignoreCase ? 'i' : '';
  const cacheKey = `${flags}/${pattern}`;
  const cached = verdicts.get(cacheKey);
  if (cached !== undefined) return cached;
  if (timeoutMs <= 0)
    return {
      safe: false,
      rule: 'regex-unverifiable',
      reason: "was not checked: the rule's time for regex checks ran out",
    };
  let verdict: RegexSafetyVerdict;
  try {
    verdict = toVerdict(loadRecheck()(pattern, flags, { checker: 'automaton', timeout: timeoutMs }));
  } catch {
    // A failure to run the checker says nothing about the pattern: refused, not cached.
    return { safe: false, rule: 'regex-unverifiable', reason: 'could not be checked for linear time; try again' };
  }
  // A timeout may be the machine's load rather than the pattern's: only final verdicts are kept.
  if (verdict.safe === false && verdict.rule === 'regex-unverifiable') return verdict;
  if (verdicts.size >= MAX_CACHED_VERDICTS) verdicts.clear();
  verdicts.set(cacheKey, verdict);
  return verdict;
}
