/**
 * Schemas shared by every route: the error body (see common/http-errors.ts) and the
 * standard error responses, so each route documents its failures in one line.
 */
import Type from 'typebox';

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code (VALIDATION_FAILED, NOT_FOUND, UNAUTHORIZED, …).' }),
      message: Type.String({ description: 'What went wrong, naming the field and the rule for validation errors.' }),
      details: Type.Optional(Type.Unknown({ description: 'Validation errors: [{ field, rule, message }].' })),
    }),
  },
  { description: 'Error' },
);

/** 4xx and 5xx answers every route may give. */
export const ERROR_RESPONSES = { '4xx': ErrorSchema, '5xx': ErrorSchema } as const;

/** The security requirement of authenticated routes, for the OpenAPI document. */
export const AUTHENTICATED: Record<string, string[]>[] = [{ apiKey: [] }, { bearer: [] }];
