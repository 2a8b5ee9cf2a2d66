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

const ASSIGNMENT_COOKIE_PREFIX = 'exp_';
/** RFC 6265 `token` characters (RFC 2616: CHAR except CTLs and separators), less `%`, which escapes. */
const COOKIE_NAME_SAFE = /^[A-Za-z0-9!#$&'*+.^_`|~-]$/;
const utf8 = new TextEncoder();

/**
 * Encodes one part of a cookie name so the result is an RFC 6265 token: every character
 * outside the token alphabet (`:` in experiment keys; anything else, for safety) and `%`
 * itself become `%XX` escapes of their UTF-8 bytes. Injective, and the identity on
 * `[A-Za-z0-9_.-]`, so keys without `:` keep the cookie names they always had.
 *
 * @example encodeCookieNamePart('checkout:v2') // 'checkout%3Av2'
 */
export function encodeCookieNamePart(value: string): string {
  let encoded = '';
  for (const char of value) {
    if (COOKIE_NAME_SAFE.test(char)) encoded += char;
    else for (const byte of utf8.encode(char)) encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/**
 * The assignment cookie's name for an experiment: `exp_` + the encoded key (`exp_checkout%3Av2`
 * for `checkout:v2`), always a valid cookie name.
 */
export const assignmentCookieName = (experimentKey: string): string =>
  `${ASSIGNMENT_COOKIE_PREFIX}${encodeCookieNamePart(experimentKey)}`;

/**
 * The name earlier versions used (`exp_` + the raw key). Read as a fallback so visitors who
 * got a cookie before names were encoded keep their variant; never written.
 */
export const legacyAssignmentCookieName = (experimentKey: string): string =>
  `${ASSIGNMENT_COOKIE_PREFIX}${experimentKey}`;

/**
 * The experiment key an assignment cookie name stands for, or `undefined` when the name is
 * not one this function writes (the visitor id cookie, a non-canonical escape, other cookies).
 *
 * @example experimentKeyFromCookieName('exp_checkout%3Av2') // 'checkout:v2'
 */
export function experimentKeyFromCookieName(name: string): string | undefined {
  if (!name.startsWith(ASSIGNMENT_COOKIE_PREFIX) || name === VISITOR_ID_COOKIE) return undefined;
  const encoded = name.slice(ASSIGNMENT_COOKIE_PREFIX.length);
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  return isWellFormedVariantId(key) && encodeCookieNamePart(key) === encoded ? key : undefined;
}

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
