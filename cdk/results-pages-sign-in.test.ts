import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { loadPlatformConfig } from './platform-config.js';
import { ResultsPagesSignIn } from './results-pages-sign-in.js';
import { synthesizePlatform, TEST_ACCOUNT, TEST_REGION } from './test-support/synthesize-platform.js';

const POOL_ID = `${TEST_REGION}_AbCdEf123`;

/** The results pages' sign-in alone in a stack, for the configuration variants. */
function signInTemplate(context: Record<string, string>): { template: Template; signIn: ResultsPagesSignIn } {
  const config = loadPlatformConfig((key) => ({ account: TEST_ACCOUNT, region: TEST_REGION, ...context })[key], {});
  const stack = new Stack(new App(), 'SignIn', { env: { account: TEST_ACCOUNT, region: TEST_REGION } });
  const signIn = new ResultsPagesSignIn(stack, 'SignIn', { config });
  return { template: Template.fromStack(stack), signIn };
}

describe('ResultsPagesSignIn (Cognito Hosted UI for the results pages)', () => {
  const synthesized = synthesizePlatform({
    bundle: false,
    context: {
      cognitoUserPoolId: POOL_ID,
      splitUrlDomainName: 'results.example.org',
      uiOrigins: 'https://d111111abcdef8.cloudfront.net',
    },
  });
  const api = synthesized.template(synthesized.platform.api);

  it('creates the Hosted UI domain with the configured prefix in the operator’s pool', () => {
    api.hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      UserPoolId: POOL_ID,
      Domain: `experimentation-dev-${TEST_ACCOUNT}`,
    });
    signInTemplate({ cognitoUserPoolId: POOL_ID, cognitoDomainPrefix: 'acme-analysts' }).template.hasResourceProperties(
      'AWS::Cognito::UserPoolDomain',
      { UserPoolId: POOL_ID, Domain: 'acme-analysts' },
    );
  });

  it('registers a public app client: code grant only, the pages’ scopes, callback and sign-out URLs of every origin', () => {
    api.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      UserPoolId: POOL_ID,
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthScopes: Match.arrayEquals(['openid', 'email', 'profile']),
      ExplicitAuthFlows: ['ALLOW_REFRESH_TOKEN_AUTH'],
      SupportedIdentityProviders: ['COGNITO'],
      EnableTokenRevocation: true,
      PreventUserExistenceErrors: 'ENABLED',
      CallbackURLs: [
        'https://api.experiments.example.com/ui/callback',
        'https://results.example.org/ui/callback',
        'https://d111111abcdef8.cloudfront.net/ui/callback',
      ],
      LogoutURLs: [
        'https://api.experiments.example.com/ui/',
        'https://results.example.org/ui/',
        'https://d111111abcdef8.cloudfront.net/ui/',
      ],
    });
  });

  it('gives the query API the pool, the created client and the Hosted UI as COGNITO_* variables', () => {
    const clientId = Object.keys(api.findResources('AWS::Cognito::UserPoolClient'))[0];
    const domainId = Object.keys(api.findResources('AWS::Cognito::UserPoolDomain'))[0];
    const definitions = Object.values(api.findResources('AWS::ECS::TaskDefinition'));
    const environment = definitions
      .flatMap(
        (definition) =>
          definition.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[],
      )
      .map((container) => Object.fromEntries(container.Environment.map((entry) => [entry.Name, entry.Value])))
      .find((env) => env['QUERY_API_PORT'] !== undefined);
    expect(environment).toMatchObject({
      COGNITO_USER_POOL_ID: POOL_ID,
      COGNITO_CLIENT_ID: { Ref: clientId },
      COGNITO_DOMAIN: {
        'Fn::Join': ['', ['https://', { Ref: domainId }, `.auth.${TEST_REGION}.amazoncognito.com`]],
      },
    });
  });

  it('uses an operator’s existing client and Hosted UI when they are configured, and creates neither', () => {
    const { template, signIn } = signInTemplate({
      cognitoUserPoolId: POOL_ID,
      cognitoClientId: 'theirclient123',
      cognitoDomain: 'https://login.example.org',
    });
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 0);
    template.resourceCountIs('AWS::Cognito::UserPoolDomain', 0);
    expect(signIn.environment).toEqual({
      COGNITO_USER_POOL_ID: POOL_ID,
      COGNITO_CLIENT_ID: 'theirclient123',
      COGNITO_DOMAIN: 'https://login.example.org',
    });
  });

  it('creates nothing of Cognito without a user pool, and refuses unusable settings by name', () => {
    const plain = synthesizePlatform({ bundle: false });
    const template = plain.template(plain.platform.api);
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 0);
    template.resourceCountIs('AWS::Cognito::UserPoolDomain', 0);
    expect(JSON.stringify(template.toJSON())).not.toContain('COGNITO_');
    const load = (context: Record<string, string>) => () => loadPlatformConfig((key) => context[key], {});
    expect(load({ cognitoDomainPrefix: 'My_Prefix' })).toThrow(/cognitoDomainPrefix .*lower-case/);
    expect(load({ cognitoDomainPrefix: 'my-cognito-login' })).toThrow(/without "aws", "amazon" or "cognito"/);
    expect(load({ cognitoDomain: 'https://login.example.org/path' })).toThrow(/cognitoDomain \(COGNITO_DOMAIN\)/);
    expect(load({ uiOrigins: 'http://insecure.example.org' })).toThrow(/uiOrigins \(UI_ORIGINS\)/);
  });
});
