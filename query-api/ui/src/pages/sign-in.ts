/**
 * The sign-in page: the Hosted UI button (Cognito), the API key prompt (API keys), or both.
 * A key is checked with one API call before it is kept.
 */
import { apiRequest, ApiError } from '../api.js';
import { forgetCredentials, startHostedUiLogin, useApiKey } from '../auth.js';
import { h, replaceChildren, uniqueId } from '../dom.js';
import type { PageContext } from './page.js';

/** Renders the sign-in choices; `done` runs once a key was accepted. */
export function renderSignIn(
  main: HTMLElement,
  context: PageContext,
  returnTo: string,
  done: () => void,
  reason?: string,
): void {
  context.setTitle('Sign in');
  const { auth } = context.config;
  const keyId = uniqueId('api-key');
  const errorId = uniqueId('key-error');
  const error = h('p', { id: errorId, class: 'field-error', role: 'alert' });
  const keyInput = h('input', {
    id: keyId,
    name: 'apiKey',
    type: 'password',
    autocomplete: 'off',
    required: true,
    'aria-describedby': errorId,
  });
  const keyForm = h(
    'form',
    {
      class: 'card',
      onsubmit: (event: Event) => {
        event.preventDefault();
        useApiKey(keyInput.value.trim());
        apiRequest('GET', '/api/v1/experiments?limit=1', { ownUnauthorized: true })
          .then(() => done())
          .catch((failure: unknown) => {
            forgetCredentials();
            error.textContent =
              failure instanceof ApiError && failure.status === 401
                ? 'This key was refused: check it and try again.'
                : `The API did not answer: ${failure instanceof Error ? failure.message : String(failure)}`;
            keyInput.setAttribute('aria-invalid', 'true');
            keyInput.focus();
          });
      },
    },
    h('h2', {}, 'Use an API key'),
    h('label', { for: keyId }, 'API key'),
    keyInput,
    error,
    h('p', { class: 'hint' }, 'Kept in this tab only (sessionStorage) and sent as x-api-key.'),
    h('button', { type: 'submit' }, 'Continue'),
  );
  const cognito = auth.cognito;
  replaceChildren(
    main,
    h('h1', { tabindex: -1 }, 'Sign in'),
    reason ? h('p', { class: 'notice', role: 'status' }, reason) : null,
    auth.mode === 'cognito' && cognito
      ? h(
          'div',
          { class: 'card' },
          h('h2', {}, 'Your organisation account'),
          h(
            'button',
            { type: 'button', onclick: () => void startHostedUiLogin(cognito, returnTo) },
            'Sign in with Cognito',
          ),
        )
      : null,
    auth.mode === 'cognito' && !cognito
      ? h(
          'p',
          { class: 'notice' },
          'Cognito sign-in is configured without its Hosted UI domain: set COGNITO_DOMAIN on the query API.',
        )
      : null,
    auth.apiKeys ? keyForm : null,
  );
}
