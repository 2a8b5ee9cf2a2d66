/**
 * The results pages' entry: reads how to sign in (/ui/config.json), then routes
 * client-side (History API) between
 *   /ui/                          experiments list           (pages/list-page.ts)
 *   /ui/experiments/new           new definition             (pages/definition-form.ts)
 *   /ui/experiments/{key}         results                    (pages/results-page.ts)
 *   /ui/experiments/{key}/edit    edit definition            (pages/definition-form.ts)
 *   /ui/callback                  Hosted UI sign-in answer   (auth.ts)
 * Every navigation aborts the previous page's requests and timers, moves the focus to the
 * new page's heading and sets the document title.
 */
import { ApiError, setCredentialRenewal, setUnauthorizedHandler } from './api.js';
import type { UiConfig } from './api-types.js';
import {
  CALLBACK_PATH,
  completeHostedUiLogin,
  forgetCredentials,
  isSignedIn,
  renewCredentials,
  signedInAs,
  signOut,
  takeRenewalFailure,
} from './auth.js';
import { h, replaceChildren } from './dom.js';
import { renderDefinitionForm } from './pages/definition-form.js';
import { renderList } from './pages/list-page.js';
import { renderResults } from './pages/results-page.js';
import { renderSignIn } from './pages/sign-in.js';
import type { PageContext } from './pages/page.js';

const main = document.getElementById('main') as HTMLElement;
const account = document.getElementById('account') as HTMLElement;
let config: UiConfig = { auth: { mode: 'open', apiKeys: false, cognito: null } };
let active: AbortController | undefined;
let disposers: (() => void)[] = [];
/** The path last rendered. */
let routed = '';

/** Goes to a page of the UI (pushes history unless `replace`). */
export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void route();
}

function renderAccount(): void {
  if (config.auth.mode === 'open') {
    replaceChildren(account, h('span', { class: 'muted' }, 'open access (no sign-in configured)'));
    return;
  }
  const who = signedInAs();
  replaceChildren(
    account,
    who
      ? [
          h('span', { class: 'muted' }, `Signed in: ${who} `),
          h('button', { type: 'button', class: 'link-button', onclick: () => void signOut(config) }, 'Sign out'),
        ]
      : h('span', { class: 'muted' }, 'Not signed in'),
  );
}

function pageContext(signal: AbortSignal): PageContext {
  return {
    signal,
    config,
    navigate,
    onDispose: (dispose) => disposers.push(dispose),
    setTitle: (title) => {
      document.title = `${title} · Experiments`;
    },
  };
}

async function route(): Promise<void> {
  active?.abort();
  for (const dispose of disposers) dispose();
  disposers = [];
  const controller = new AbortController();
  active = controller;
  const context = pageContext(controller.signal);
  const url = new URL(location.href);
  routed = url.pathname;
  const path = url.pathname.replace(/\/+$/, '/') || '/ui/';
  try {
    if (path === CALLBACK_PATH && config.auth.cognito) {
      const returnTo = await completeHostedUiLogin(config.auth.cognito, url);
      navigate(returnTo, true);
      return;
    }
    renderAccount();
    if (!isSignedIn(config)) {
      renderSignIn(main, context, `${url.pathname}${url.search}`, () => navigate(`${url.pathname}${url.search}`, true));
      return;
    }
    const match = /^\/ui\/experiments\/([^/]+)(\/edit)?\/?$/.exec(url.pathname);
    if (url.pathname === '/ui/experiments/new') await renderDefinitionForm(main, context, undefined);
    else if (match?.[2]) await renderDefinitionForm(main, context, decodeURIComponent(match[1] as string));
    else if (match) await renderResults(main, context, decodeURIComponent(match[1] as string), url.searchParams);
    else await renderList(main, context, url.searchParams);
  } catch (error) {
    if (controller.signal.aborted) return;
    // A 401 already put the sign-in page up (the unauthorized handler): keep it.
    if (error instanceof ApiError && error.status === 401) return;
    context.setTitle('Error');
    replaceChildren(
      main,
      h('h1', { tabindex: -1 }, 'Something went wrong'),
      h('p', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error)),
      h('p', {}, h('a', { href: '/ui/' }, 'Back to the experiments')),
    );
  }
  if (!controller.signal.aborted) main.querySelector<HTMLElement>('h1')?.focus({ preventScroll: false });
}

document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const anchor = (event.target as Element | null)?.closest?.('a');
  if (!anchor || anchor.target || anchor.origin !== location.origin || !anchor.pathname.startsWith('/ui/')) return;
  if (anchor.hasAttribute('download') || anchor.getAttribute('href')?.startsWith('#')) return;
  event.preventDefault();
  navigate(`${anchor.pathname}${anchor.search}`);
});
window.addEventListener('popstate', () => {
  // A fragment link (the skip link) also fires popstate: the page itself did not change.
  if (location.hash && location.pathname === routed) return;
  void route();
});

setUnauthorizedHandler((error: ApiError) => {
  // Settings unknown (a static host) yet the API wants credentials: offer the key prompt.
  if (config.auth.mode === 'open') config = { auth: { mode: 'api-key', apiKeys: true, cognito: null } };
  forgetCredentials();
  renderAccount();
  const url = new URL(location.href);
  renderSignIn(
    main,
    pageContext(new AbortController().signal),
    `${url.pathname}${url.search}`,
    () => void route(),
    takeRenewalFailure() ?? error.message,
  );
});
setCredentialRenewal((force) => renewCredentials(config, force));

async function start(): Promise<void> {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="experiments-ui-config"]');
  try {
    if (meta) config = JSON.parse(meta.content) as UiConfig;
    else {
      // A static host (the CloudFront frontend bucket) serves the page without it; the API answers this.
      const response = await fetch('/ui/config.json', { headers: { accept: 'application/json' } });
      if (response.ok) config = (await response.json()) as UiConfig;
    }
  } catch {
    // No settings: assume open; the API will say otherwise (401) and the key prompt appears.
  }
  await route();
}

void start();
