import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SPLIT_URL_CONFIG_GLOBAL, SPLIT_URL_ENTRY } from './split-url-distribution.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ context: { experimentationApiKey: 'edge-test-key-7f3a' } });
const { splitUrl } = synthesized.platform;
const template = synthesized.template(splitUrl);

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
        CacheBehaviors: [Match.objectLike({ PathPattern: '/assets/*' })],
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
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
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

  it('bundles edge/split-url/viewer-request.ts with its configuration compiled in', () => {
    expect(synthesized.missingHandlers, 'handler modules that do not exist yet').not.toContain(SPLIT_URL_ENTRY);
    const bundle = synthesized.bundledFile(splitUrl, 'SplitUrlViewerRequest', 'index.mjs');
    // esbuild replaced every read of the global with the object literal.
    expect(bundle).toContain(
      '{experimentKey:"homepage-redesign",experimentationApiUrl:"https://api.experiments.example.com",experimentationApiKey:"edge-test-key-7f3a"}',
    );
    expect(bundle).not.toMatch(new RegExp(`typeof ${SPLIT_URL_CONFIG_GLOBAL}`));
    expect(bundle).toContain('split-url function is not configured');
    expect(Buffer.byteLength(bundle)).toBeLessThan(1024 * 1024);
  });
});
