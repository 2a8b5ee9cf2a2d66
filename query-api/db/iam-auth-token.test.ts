import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.js';
import { poolOptions } from './database.js';
import {
  createIamAuthTokenProvider,
  iamAuthPasswordFor,
  REFRESH_MARGIN_MS,
  TOKEN_LIFETIME_MS,
  TOKEN_REUSE_MS,
  type IamAuthTarget,
} from './iam-auth-token.js';

/** A fake signer: numbered tokens, the calls it got, and an optional failure or delay. */
function fakeSigner() {
  const calls: IamAuthTarget[] = [];
  const state: { fail?: Error; release?: () => void; hold: boolean } = { hold: false };
  const sign = async (target: IamAuthTarget): Promise<string> => {
    calls.push(target);
    if (state.hold) await new Promise<void>((resolve) => (state.release = resolve));
    if (state.fail) throw state.fail;
    return `token-${calls.length}`;
  };
  return { sign, calls, state };
}

function fakeClock(start = 1_700_000_000_000) {
  let at = start;
  return { now: () => at, advance: (ms: number) => (at += ms) };
}

const target = {
  hostname: 'metadata.cluster-abc.eu-west-1.rds.amazonaws.com',
  port: 5432,
  username: 'experimentation_app',
  region: 'eu-west-1',
};

describe('IAM database auth token provider (fake clock, fake signer)', () => {
  it('reuses a token for 10 minutes and signs a new one before the 15-minute expiry', async () => {
    const clock = fakeClock();
    const signer = fakeSigner();
    const provider = createIamAuthTokenProvider({ ...target, signer: signer.sign, now: clock.now });
    expect(await provider.password()).toBe('token-1');
    expect(signer.calls).toEqual([target]);
    clock.advance(TOKEN_REUSE_MS - 1);
    expect(await provider.password()).toBe('token-1');
    clock.advance(1);
    expect(await provider.password()).toBe('token-2');
    expect(signer.calls).toHaveLength(2);
    expect(TOKEN_REUSE_MS + REFRESH_MARGIN_MS).toBe(TOKEN_LIFETIME_MS);
  });

  it('never hands out a token within 5 minutes of its expiry, whatever the connection times', async () => {
    const clock = fakeClock();
    const signer = fakeSigner();
    const provider = createIamAuthTokenProvider({ ...target, signer: signer.sign, now: clock.now });
    const signedAt = new Map<string, number>();
    // Connections open at irregular moments over two hours (deterministic steps of 7 s to 9 min).
    for (let step = 0; step < 200; step++) {
      clock.advance(((step * 7919) % 540_000) + 7_000);
      const token = await provider.password();
      if (!signedAt.has(token)) signedAt.set(token, clock.now());
      const expiresAt = (signedAt.get(token) ?? 0) + TOKEN_LIFETIME_MS;
      expect(expiresAt - clock.now()).toBeGreaterThan(REFRESH_MARGIN_MS);
    }
    expect(signedAt.size).toBeGreaterThan(10);
  });

  it('shares one signing between connections opened at the same time', async () => {
    const signer = fakeSigner();
    signer.state.hold = true;
    const provider = createIamAuthTokenProvider({ ...target, signer: signer.sign, now: fakeClock().now });
    const pending = Promise.all([provider.password(), provider.password(), provider.password()]);
    signer.state.release?.();
    expect(await pending).toEqual(['token-1', 'token-1', 'token-1']);
    expect(signer.calls).toHaveLength(1);
  });

  it('reports a failed signing naming user and host, and signs again on the next connection', async () => {
    const signer = fakeSigner();
    signer.state.fail = new Error('no credentials');
    const provider = createIamAuthTokenProvider({ ...target, signer: signer.sign, now: fakeClock().now });
    await expect(provider.password()).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
      message: expect.stringContaining('experimentation_app@metadata.cluster-abc'),
    });
    signer.state.fail = undefined;
    expect(await provider.password()).toBe('token-2');
  });
});

describe('IAM authentication in the pools', () => {
  it('signs for the URL’s user, host and port, and only with DATABASE_IAM_AUTH', async () => {
    const signer = fakeSigner();
    const url = 'postgres://experimentation_app@reader.cluster-ro-abc.eu-west-1.rds.amazonaws.com:5433/experimentation';
    const on = loadConfig({ DATABASE_IAM_AUTH: 'true', AWS_REGION: 'eu-west-1' });
    expect(on.database.iamAuth).toEqual({ region: 'eu-west-1' });
    const options = poolOptions(on.database, url, signer.sign);
    expect(typeof options.password).toBe('function');
    expect(await (options.password as () => Promise<string>)()).toBe('token-1');
    expect(signer.calls).toEqual([
      {
        hostname: 'reader.cluster-ro-abc.eu-west-1.rds.amazonaws.com',
        port: 5433,
        username: 'experimentation_app',
        region: 'eu-west-1',
      },
    ]);
    const off = loadConfig({});
    expect(off.database.iamAuth).toBeUndefined();
    expect(poolOptions(off.database, url, signer.sign).password).toBeUndefined();
  });

  it('refuses IAM authentication without a user in the URL', () => {
    expect(() => iamAuthPasswordFor('postgres://db.example:5432/x', { region: 'eu-west-1' })).toThrow(
      /DATABASE_IAM_AUTH needs the user/,
    );
    expect(iamAuthPasswordFor('postgres://u@db.example/x', undefined)).toBeUndefined();
  });
});
