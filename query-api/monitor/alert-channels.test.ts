import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { PipelineError } from '../../common/errors.js';
import { experimentRecipients, pipelineRecipients } from './alert-channel.js';
import type { AlertNotice } from './alert-messages.js';
import { createSendGridChannel } from './sendgrid-channel.js';
import { createSlackChannel } from './slack-channel.js';
import { startFakeSendGrid, startFakeSlack, type FakeService } from './test-support/fake-alert-services.js';

const POLICY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2_000 };

const definition: ExperimentDefinition = {
  key: 'checkout',
  name: 'Checkout <button> & copy',
  status: 'running',
  variants: [
    { id: 'control', weight: 0.5 },
    { id: 'treatment', weight: 0.5 },
  ],
  controlVariantId: 'control',
  coverage: 1,
  hashSeed: 'checkout',
  hashVersion: 2,
  metrics: [],
  segmentDimensions: [],
  owners: ['ana@example.com', 'bo@example.com'],
};

const notice: AlertNotice = {
  transition: 'fired',
  experiment: { key: definition.key, name: definition.name },
  condition: 'srm',
  kind: 'srm',
  summary: 'sample-ratio mismatch (p = 1.00e-9): exposed users control 600, treatment 400',
  resultsUrl: 'https://experiments.example.com/ui/experiments/checkout',
  at: new Date('2026-11-26T10:00:00Z'),
};

let slack: FakeService;
let sendgrid: FakeService;
beforeAll(async () => {
  [slack, sendgrid] = await Promise.all([startFakeSlack(), startFakeSendGrid()]);
});
afterAll(async () => {
  await Promise.all([slack.close(), sendgrid.close()]);
});
beforeEach(() => {
  slack.requests.length = 0;
  sendgrid.requests.length = 0;
});

describe('Slack channel against a fake Slack Web API', () => {
  const channel = () =>
    createSlackChannel({
      botToken: 'xoxb-test-token',
      apiUrl: slack.url,
      defaultChannel: '#experiments',
      policy: POLICY,
    });

  it('posts chat.postMessage with the bot token, the default channel, readable text and a results link', async () => {
    expect(await channel().deliver(notice, experimentRecipients(definition))).toBe('sent');
    expect(slack.requests).toHaveLength(1);
    const [request] = slack.requests;
    expect(request!.path).toBe('/chat.postMessage');
    expect(request!.headers.authorization).toBe('Bearer xoxb-test-token');
    expect(request!.headers['content-type']).toMatch(/^application\/json; charset=utf-8/);
    const body = request!.body as {
      channel: string;
      text: string;
      blocks: { type: string; text?: { text: string } }[];
    };
    expect(body.channel).toBe('#experiments');
    expect(body.text).toContain('Checkout &lt;button&gt; &amp; copy (checkout): Alert: sample-ratio mismatch');
    expect(JSON.stringify(body.blocks)).toContain(
      '<https://experiments.example.com/ui/experiments/checkout|Open the results>',
    );
    expect(body.blocks.map((block) => block.type)).toEqual(['section', 'context']);
  });

  it("uses the experiment's own channel, and has nobody to tell without any channel", async () => {
    await channel().deliver(notice, experimentRecipients({ ...definition, slackChannel: 'C0123456789' }));
    expect((slack.requests[0]!.body as { channel: string }).channel).toBe('C0123456789');
    const noDefault = createSlackChannel({ botToken: 't', apiUrl: slack.url, policy: POLICY });
    expect(await noDefault.deliver(notice, experimentRecipients(definition))).toBe('no-recipient');
    expect(slack.requests).toHaveLength(1);
  });

  it('waits as long as a 429 Retry-After asks, then succeeds', async () => {
    slack.script({ status: 429, headers: { 'retry-after': '1' } });
    const started = Date.now();
    expect(await channel().deliver(notice, experimentRecipients(definition))).toBe('sent');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(slack.requests).toHaveLength(2);
  });

  it('retries ok:false ratelimited, but never channel_not_found', async () => {
    slack.script({ status: 200, body: { ok: false, error: 'ratelimited' } });
    await channel().deliver(notice, experimentRecipients(definition));
    expect(slack.requests).toHaveLength(2);
    slack.requests.length = 0;
    slack.script({ status: 200, body: { ok: false, error: 'channel_not_found' } });
    const refusal = await channel()
      .deliver(notice, experimentRecipients(definition))
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(PipelineError);
    expect((refusal as PipelineError).retriable).toBe(false);
    expect((refusal as PipelineError).message).toContain('channel_not_found');
    expect(slack.requests).toHaveLength(1);
  });

  it('gives up after the bounded attempts on 5xx, without the token in the error', async () => {
    slack.script({ status: 503 }, { status: 502 }, { status: 500 }, { status: 500 });
    const failure = await channel()
      .deliver(notice, experimentRecipients(definition))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PipelineError);
    expect((failure as PipelineError).retriable).toBe(true);
    expect((failure as PipelineError).message).toBe('Slack answered 500');
    expect(JSON.stringify(failure)).not.toContain('xoxb');
    expect(slack.requests).toHaveLength(POLICY.maxAttempts);
  });
});

describe('SendGrid channel against a fake SendGrid v3 API', () => {
  const channel = () =>
    createSendGridChannel({ apiKey: 'SG.test-key', apiUrl: sendgrid.url, from: 'alerts@example.com', policy: POLICY });

  it('sends /v3/mail/send to each owner, from the configured sender, text before HTML', async () => {
    expect(await channel().deliver(notice, experimentRecipients(definition))).toBe('sent');
    const [request] = sendgrid.requests;
    expect(request!.path).toBe('/v3/mail/send');
    expect(request!.headers.authorization).toBe('Bearer SG.test-key');
    const body = request!.body as {
      personalizations: { to: { email: string }[] }[];
      from: { email: string };
      subject: string;
      content: { type: string; value: string }[];
    };
    expect(body.personalizations).toEqual([
      { to: [{ email: 'ana@example.com' }] },
      { to: [{ email: 'bo@example.com' }] },
    ]);
    expect(body.from.email).toBe('alerts@example.com');
    expect(body.subject).toBe('[checkout] Alert: ' + notice.summary);
    expect(body.content.map((part) => part.type)).toEqual(['text/plain', 'text/html']);
    expect(body.content[1]!.value).toContain('Checkout &lt;button&gt; &amp; copy');
    expect(body.content[0]!.value).toContain(notice.resultsUrl);
  });

  it('skips an experiment without owners', async () => {
    expect(await channel().deliver(notice, experimentRecipients({ ...definition, owners: [] }))).toBe('no-recipient');
    expect(sendgrid.requests).toHaveLength(0);
  });

  it('retries a 429 (Retry-After) and a 5xx, and does not retry a 400', async () => {
    sendgrid.script({ status: 429, headers: { 'retry-after': '0' } }, { status: 500 });
    expect(await channel().deliver(notice, experimentRecipients(definition))).toBe('sent');
    expect(sendgrid.requests).toHaveLength(3);
    sendgrid.requests.length = 0;
    sendgrid.script({
      status: 400,
      body: { errors: [{ message: 'The from address does not match a verified Sender' }] },
    });
    await expect(channel().deliver(notice, experimentRecipients(definition))).rejects.toThrow(
      'SendGrid answered 400 (not retried)',
    );
    expect(sendgrid.requests).toHaveLength(1);
  });

  it('gives up at once when Retry-After asks for longer than the policy allows', async () => {
    sendgrid.script({ status: 429, headers: { 'retry-after': '3600' } });
    await expect(channel().deliver(notice, experimentRecipients(definition))).rejects.toThrow('SendGrid answered 429');
    expect(sendgrid.requests).toHaveLength(1);
  });
});

describe('recipients', () => {
  it("an experiment's alerts go to its channel and owners; pipeline alerts to ALERT_EMAIL_TO, else all owners once", () => {
    expect(experimentRecipients({ ...definition, slackChannel: 'C0123456789' })).toEqual({
      slackChannel: 'C0123456789',
      emails: ['ana@example.com', 'bo@example.com'],
    });
    const running = [{ owners: ['bo@example.com', 'ana@example.com'] }, { owners: ['ana@example.com'] }, {}];
    expect(pipelineRecipients([], running)).toEqual({ emails: ['ana@example.com', 'bo@example.com'] });
    expect(pipelineRecipients(['oncall@example.com'], running)).toEqual({ emails: ['oncall@example.com'] });
    expect(pipelineRecipients([], [])).toEqual({ emails: [] });
  });

  it('a pipeline notice goes to the default channel and names the pipeline, with a link to the experiments', async () => {
    const pipelineNotice: AlertNotice = {
      transition: 'fired',
      condition: 'state-lost',
      kind: 'state-lost',
      summary: 'the processors stopped',
      resultsUrl: 'https://experiments.example.com/ui/',
      at: new Date('2026-11-26T10:00:00Z'),
    };
    const slackChannel = createSlackChannel({
      botToken: 't',
      apiUrl: slack.url,
      defaultChannel: '#experiments',
      policy: POLICY,
    });
    expect(await slackChannel.deliver(pipelineNotice, pipelineRecipients([], []))).toBe('sent');
    const body = slack.requests[0]!.body as { channel: string; text: string; blocks: unknown };
    expect(body.channel).toBe('#experiments');
    expect(body.text).toBe(
      ':rotating_light: Event pipeline (every running experiment) (pipeline): Alert: the processors stopped',
    );
    expect(JSON.stringify(body.blocks)).toContain('<https://experiments.example.com/ui/|Open the experiments>');
    const email = createSendGridChannel({
      apiKey: 'k',
      apiUrl: sendgrid.url,
      from: 'alerts@example.com',
      policy: POLICY,
    });
    expect(await email.deliver(pipelineNotice, pipelineRecipients([], []))).toBe('no-recipient');
    await email.deliver(pipelineNotice, pipelineRecipients(['oncall@example.com'], []));
    expect((sendgrid.requests[0]!.body as { subject: string }).subject).toBe(
      '[pipeline] Alert: the processors stopped',
    );
  });
});

describe('monitor configuration', () => {
  it('parses ALERT_EMAIL_TO as a list and MONITOR_IN_PROCESS as a flag, refusing bad values by name', () => {
    const config = loadConfig({
      ALERT_EMAIL_TO: ' oncall@example.com , data@example.com ',
      MONITOR_IN_PROCESS: 'true',
    });
    expect(config.monitor.sendgrid.to).toEqual(['oncall@example.com', 'data@example.com']);
    expect(config.monitor.inProcess).toBe(true);
    expect(loadConfig({}).monitor).toMatchObject({ inProcess: false, sendgrid: { to: [] } });
    expect(() => loadConfig({ ALERT_EMAIL_TO: 'oncall@example.com, nope' })).toThrow(
      /ALERT_EMAIL_TO="oncall@example.com, nope"/,
    );
    expect(() => loadConfig({ MONITOR_IN_PROCESS: 'maybe' })).toThrow(
      /MONITOR_IN_PROCESS="maybe" \(type: must be boolean\)/,
    );
  });
});
