import { Match, type Template } from 'aws-cdk-lib/assertions';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SPLIT_URL_CONFIG_GLOBAL, SPLIT_URL_ENTRY } from './split-url-distribution.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform();
const { splitUrl } = synthesized.platform;
const template = synthesized.template(splitUrl);

/** The viewer-request function (the dev template also holds CDK's bucket auto-delete provider). */
const edgeFunctions = (from: Template) =>
  Object.entries(from.findResources('AWS::Lambda::Function')).filter(([id]) => id.startsWith('SplitUrlViewerRequest'));

describe('SplitUrlStack', () => {
  it('deploys to us-east-1, where Lambda@Edge functions must live, whatever the platform region', () => {
    expect(splitUrl.region).toBe('us-east-1');
    expect(synthesized.platform.api.region).toBe(synthesized.config.region);
    expect(synthesized.config.region).not.toBe('us-east-1');
  });

  it('attaches the function version on viewer-request and viewer-response', () => {
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          LambdaFunctionAssociations: [
            {
              EventType: 'viewer-request',
              LambdaFunctionARN: Match.objectLike({ Ref: Match.stringLikeRegexp('CurrentVersion') }),
            },
            {
              EventType: 'viewer-response',
              LambdaFunctionARN: Match.objectLike({ Ref: Match.stringLikeRegexp('CurrentVersion') }),
            },
          ],
        }),
      }),
    });
  });

  it('fronts the query API over HTTPS and the assets bucket through Origin Access Control', () => {
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Origins: Match.arrayWith([
          Match.objectLike({
            DomainName: 'api.experiments.example.com',
            CustomOriginConfig: Match.objectLike({
              OriginProtocolPolicy: 'https-only',
              OriginSSLProtocols: ['TLSv1.2'],
            }),
          }),
          Match.objectLike({ OriginAccessControlId: Match.anyValue(), S3OriginConfig: Match.anyValue() }),
        ]),
        CacheBehaviors: [
          Match.objectLike({ PathPattern: '/ui/config.json' }),
          Match.objectLike({ PathPattern: '/ui/assets/*' }),
          Match.objectLike({ PathPattern: '/ui/*' }),
        ],
        Logging: Match.anyValue(),
      }),
    });
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always' }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudfront.amazonaws.com' }, Action: 's3:GetObject' }),
        ]),
      }),
    });
  });

  it('runs an x86_64 function with no environment, assumable by Lambda@Edge', () => {
    const functions = edgeFunctions(template).map(([, fn]) => fn);
    expect(functions).toHaveLength(1);
    expect(functions[0]?.Properties).toMatchObject({ Runtime: 'nodejs24.x', MemorySize: 128, Timeout: 5 });
    expect(functions[0]?.Properties.Environment).toBeUndefined();
    expect(functions[0]?.Properties.Architectures ?? ['x86_64']).toEqual(['x86_64']);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'edgelambda.amazonaws.com' } })]),
      }),
    });
  });

  it('bundles edge/split-url/viewer-request.ts with its configuration, and not its key, compiled in', () => {
    expect(synthesized.missingHandlers, 'handler modules that do not exist yet').not.toContain(SPLIT_URL_ENTRY);
    const bundle = synthesized.bundledFile(splitUrl, 'SplitUrlViewerRequest', 'index.mjs');
    // esbuild replaced every read of the global with the object literal: the secret's name, no key.
    expect(bundle).toContain(
      '{experimentKey:"homepage-redesign",experimentationApiUrl:"https://api.experiments.example.com",experimentationApiKey:"",experimentationApiKeySecret:{secretId:"experimentation/edge/split-url-api-key",region:"us-east-1"}}',
    );
    expect(bundle).not.toMatch(new RegExp(`typeof ${SPLIT_URL_CONFIG_GLOBAL}`));
    expect(bundle).toContain('split-url function is not configured');
    expect(bundle).toContain('secretsmanager.GetSecretValue');
    expect(Buffer.byteLength(bundle)).toBeLessThan(1024 * 1024);
  });

  it('lets the edge function read its own key secret in us-east-1, and nothing else', () => {
    const secretReads = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement.filter(
        (statement) => JSON.stringify(statement.Action).includes('secretsmanager'),
      ),
    );
    expect(secretReads).toHaveLength(1);
    expect(secretReads[0]?.Action).toBe('secretsmanager:GetSecretValue');
    expect(JSON.stringify(secretReads[0]?.Resource)).toContain(
      ':secretsmanager:us-east-1:123456789012:secret:experimentation/edge/split-url-api-key-??????',
    );
  });

  it('keeps the edge function on destroy (replicas linger) and empties the buckets in dev only', () => {
    const [[functionId, fn] = []] = edgeFunctions(template);
    expect(fn?.DeletionPolicy).toBe('Retain');
    const versions = Object.values(template.findResources('AWS::Lambda::Version')).filter((version) =>
      JSON.stringify(version.Properties.FunctionName).includes(functionId ?? '?'),
    );
    expect(versions.map((version) => version.DeletionPolicy)).toEqual(['Retain']);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket')))
      expect(bucket.DeletionPolicy).toBe('Delete');
    const prod = synthesizePlatform({ bundle: false, context: { stage: 'prod' } });
    const prodTemplate = prod.template(prod.platform.splitUrl);
    prodTemplate.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    for (const bucket of Object.values(prodTemplate.findResources('AWS::S3::Bucket')))
      expect(bucket.DeletionPolicy).toBe('Retain');
  });

  it('caches hashed assets for a year and pages for a minute, and deploys the static site when it is built', () => {
    const policies = Object.values(template.findResources('AWS::CloudFront::CachePolicy')).map(
      (policy) => policy.Properties.CachePolicyConfig as { DefaultTTL: number; MaxTTL: number; MinTTL: number },
    );
    expect(policies.map((policy) => [policy.DefaultTTL, policy.MaxTTL]).sort()).toEqual(
      [
        [365 * 24 * 3600, 365 * 24 * 3600],
        [60, 60],
      ].sort(),
    );
    // No build folder (the default query-api/ui/dist is not built here): nothing is deployed.
    template.resourceCountIs('Custom::CDKBucketDeployment', 0);

    const site = mkdtempSync(path.join(tmpdir(), 'static-site-'));
    mkdirSync(path.join(site, 'assets'));
    writeFileSync(path.join(site, 'index.html'), '<!doctype html><script src="/ui/assets/app.3f2a9c.js"></script>');
    writeFileSync(path.join(site, 'assets', 'app.3f2a9c.js'), 'console.log("ui")');
    const built = synthesizePlatform({ bundle: false, context: { staticSiteSource: site } });
    const deployments = Object.values(
      built.template(built.platform.splitUrl).findResources('Custom::CDKBucketDeployment'),
    );
    expect(deployments).toHaveLength(2);
    const byPrefix = Object.fromEntries(
      deployments.map((deployment) => [deployment.Properties.DestinationBucketKeyPrefix, deployment.Properties]),
    );
    expect(byPrefix['ui/assets/']).toMatchObject({
      Prune: false,
      SystemMetadata: { 'cache-control': 'public, max-age=31536000, immutable' },
    });
    expect(byPrefix['ui/']).toMatchObject({
      Prune: false,
      SystemMetadata: { 'cache-control': 'public, max-age=60, must-revalidate' },
    });
  });

  it('answers the pages’ client-side routes with index.html and sends /ui/config.json to the query API', () => {
    const distribution = Object.values(template.findResources('AWS::CloudFront::Distribution'))[0]?.Properties
      .DistributionConfig as {
      CacheBehaviors: {
        PathPattern: string;
        TargetOriginId: string;
        FunctionAssociations?: { EventType: string; FunctionARN: unknown }[];
      }[];
      DefaultCacheBehavior: { TargetOriginId: string };
    };
    const patterns = distribution.CacheBehaviors.map((behavior) => behavior.PathPattern);
    // First match wins: the settings and the hashed files before the pages' wildcard.
    expect(patterns).toEqual(['/ui/config.json', '/ui/assets/*', '/ui/*']);
    const byPattern = Object.fromEntries(distribution.CacheBehaviors.map((b) => [b.PathPattern, b]));
    expect(byPattern['/ui/config.json']?.TargetOriginId).toBe(distribution.DefaultCacheBehavior.TargetOriginId);
    expect(byPattern['/ui/*']?.TargetOriginId).not.toBe(distribution.DefaultCacheBehavior.TargetOriginId);
    expect(byPattern['/ui/*']?.FunctionAssociations?.[0]?.EventType).toBe('viewer-request');
    template.hasResourceProperties('AWS::CloudFront::Function', {
      FunctionConfig: Match.objectLike({ Runtime: 'cloudfront-js-2.0' }),
    });
    // The function's rewrite, run here on CloudFront-shaped events.
    const code = String(
      (Object.values(template.findResources('AWS::CloudFront::Function'))[0]?.Properties as { FunctionCode: string })
        .FunctionCode,
    );
    const handler = runInNewContext(`${code}; handler`) as (event: { request: { uri: string } }) => { uri: string };
    expect(handler({ request: { uri: '/ui/experiments/checkout' } }).uri).toBe('/ui/index.html');
    expect(handler({ request: { uri: '/ui/' } }).uri).toBe('/ui/index.html');
    expect(handler({ request: { uri: '/ui/assets/main-3F2A9C1B.js' } }).uri).toBe('/ui/assets/main-3F2A9C1B.js');
  });
});
