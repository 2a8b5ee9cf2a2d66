/**
 * Cookie reading and writing for the split-URL function. Cookies are the only state a
 * visitor carries: `exp_uid` (the first-party id that is hashed) and `exp_{experimentKey}`
 * (the assigned variant). Values are validated on read: a tampered or malformed cookie is
 * treated as absent, never trusted.
 */
import type { CloudFrontHeaders } from 'aws-lambda';

/** The first-party visitor id cookie. */
export const VISITOR_ID_COOKIE = 'exp_uid';
/** One year: the assignment must outlive the experiment. */
export const COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600;

/** Ids this function generates and accepts: URL-safe, long enough to be unguessable. */
const VISITOR_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
/** Same alphabet as experiment and variant keys (common/event-contract.ts KEY_PATTERN). */
const VARIANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** The assignment cookie's name for an experiment. */
export const assignmentCookieName = (experimentKey: string): string => `exp_${experimentKey}`;

export const isValidVisitorId = (value: string | undefined): value is string =>
  value !== undefined && VISITOR_ID_PATTERN.test(value);

export const isWellFormedVariantId = (value: string | undefined): value is string =>
  value !== undefined && VARIANT_ID_PATTERN.test(value);

/**
 * Parses a `Cookie` header value (`a=1; b=2`) into a map. The first occurrence of a name
 * wins, as browsers send the most specific cookie first.
 */
export function parseCookieHeader(header: string, into: Map<string, string> = new Map()): Map<string, string> {
  for (const pair of header.split(';')) {
    const separator = pair.indexOf('=');
    if (separator <= 0) continue;
    const name = pair.slice(0, separator).trim();
    let value = pair.slice(separator + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name.length > 0 && !into.has(name)) into.set(name, value);
  }
  return into;
}

/** All cookies of a CloudFront request (the `cookie` header may be split over several entries). */
export function requestCookies(headers: CloudFrontHeaders): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const entry of headers.cookie ?? []) parseCookieHeader(entry.value, cookies);
  return cookies;
}

/** A cookie the function wants the browser to keep. */
export interface CookieToSet {
  name: string;
  value: string;
}

/**
 * A `Set-Cookie` value lasting one year, sent over HTTPS only, sent on top-level
 * navigations from other sites (SameSite=Lax, so links from ads and emails keep the
 * assignment), for the whole site. Not HttpOnly: the landing page reads it to send the
 * impression.
 */
export function serializeSetCookie(cookie: CookieToSet, nowMs: number): string {
  const expires = new Date(nowMs + COOKIE_MAX_AGE_SECONDS * 1000).toUTCString();
  return `${cookie.name}=${cookie.value}; Max-Age=${COOKIE_MAX_AGE_SECONDS}; Expires=${expires}; Path=/; Secure; SameSite=Lax`;
}

/** `name=value; name=value`, the request `Cookie` header form. */
export const cookiePairs = (cookies: readonly CookieToSet[]): string =>
  cookies.map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
