/**
 * The pages' only way to the query API (same origin): adds the credentials, parses JSON,
 * and turns an error answer (`{ error: { code, message, details } }`) into an `ApiError`
 * that keeps the status, the code, the field problems and the current `ETag` (412).
 */
import type { FieldProblem } from './api-types.js';
import { authHeaders } from './auth.js';

/** An error answer of the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
    readonly etag: string | null,
  ) {
    super(message);
  }

  /** The field problems of a 400 (`details` is a list of `{ field, rule, message }`). */
  get problems(): FieldProblem[] {
    return Array.isArray(this.details)
      ? this.details.filter(
          (d): d is FieldProblem => typeof d === 'object' && d !== null && 'field' in d && 'message' in d,
        )
      : [];
  }
}

/** Called when the API answers 401: the credentials are gone or were refused. */
let onUnauthorized: (error: ApiError) => void = () => undefined;
export const setUnauthorizedHandler = (handler: (error: ApiError) => void): void => {
  onUnauthorized = handler;
};

/**
 * Renews the credentials before a call when due (`force`: after a 401); resolves whether
 * they are usable. Wired by main.ts to auth.ts `renewCredentials`; nothing to renew by default.
 */
let renewCredentials: (force: boolean) => Promise<boolean> = (force) => Promise.resolve(!force);
export const setCredentialRenewal = (renew: (force: boolean) => Promise<boolean>): void => {
  renewCredentials = renew;
};

/** A JSON answer with its ETag. */
export interface ApiAnswer<T> {
  body: T;
  etag: string | null;
  status: number;
}

/** Sends one request; resolves with the parsed body, rejects with `ApiError` (or AbortError). */
export async function apiRequest<T>(
  method: string,
  path: string,
  options: {
    body?: unknown;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    /** The caller handles a 401 itself (the key prompt checking a key): the sign-in page is not shown. */
    ownUnauthorized?: boolean;
  } = {},
): Promise<ApiAnswer<T>> {
  const send = async () => {
    const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(), ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(path, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  };
  await renewCredentials(false);
  let response = await send();
  // Refused (revoked elsewhere, clock skew): renew once and try again.
  if (response.status === 401 && !options.ownUnauthorized && (await renewCredentials(true))) response = await send();
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const etag = response.headers.get('etag');
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    const failure = new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `${method} ${path} answered ${response.status}`,
      error?.details,
      etag,
    );
    if (response.status === 401 && !options.ownUnauthorized) onUnauthorized(failure);
    throw failure;
  }
  return { body: parsed as T, etag, status: response.status };
}

/** GET returning the body. */
export const apiGet = async <T>(path: string, signal?: AbortSignal): Promise<T> =>
  (await apiRequest<T>('GET', path, signal ? { signal } : {})).body;

/** Whether an error is the abort of a superseded page load. */
export const isAbort = (error: unknown): boolean => error instanceof DOMException && error.name === 'AbortError';
