/**
 * Shared plumbing of the directly invoked Lambdas: payload validation with errors that
 * name the field and the rule, and one error object shape. A Lambda invoked by an SDK must
 * answer, not crash: every failure becomes `{ error: { code, message, retriable, details? } }`.
 */
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { isPipelineError, PipelineError } from '../common/errors.js';

export interface InvocationError {
  error: { code: string; message: string; retriable: boolean; details?: unknown };
}

export interface FieldProblem {
  field: string;
  rule: string;
  message: string;
}

/** The error object for any failure; unknown errors keep their message out of the answer. */
export function toInvocationError(error: unknown): InvocationError {
  if (isPipelineError(error)) {
    const internal = error.statusCode >= 500 && error.code === 'INTERNAL';
    return {
      error: {
        code: error.code,
        message: internal ? 'internal error' : error.message,
        retriable: error.retriable,
        ...(error.details === undefined ? {} : { details: error.details }),
      },
    };
  }
  return { error: { code: 'INTERNAL', message: 'internal error', retriable: false } };
}

/**
 * Compiles a payload validator: returns the typed payload, or throws VALIDATION_FAILED with
 * one `{ field, rule, message }` per problem.
 */
export function payloadValidator<T>(schema: TSchema, what: string): (payload: unknown) => T {
  const check = Compile(schema);
  return (payload) => {
    if (check.Check(payload)) return payload as T;
    const problems: FieldProblem[] = [];
    for (const error of check.Errors(payload)) {
      if (error.keyword === 'required') {
        for (const name of (error.params as { requiredProperties?: string[] }).requiredProperties ?? [])
          problems.push({ field: name, rule: 'required', message: `${name} is required` });
        continue;
      }
      if (error.keyword === 'additionalProperties') continue;
      const field = error.instancePath === '' ? '(payload)' : error.instancePath.slice(1).replaceAll('/', '.');
      const rule = error.keyword === 'boolean' ? 'unknown-field' : error.keyword;
      const message = rule === 'unknown-field' ? `${field} is not a field of the ${what}` : `${field} ${error.message}`;
      problems.push({ field, rule, message });
    }
    const summary = problems.map((problem) => problem.message).join('; ');
    throw new PipelineError('VALIDATION_FAILED', `invalid ${what}: ${summary}`, { details: problems });
  };
}
