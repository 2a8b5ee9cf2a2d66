/**
 * SplitUrlDistribution: CloudFront in front of the platform's origin (the query API's load
 * balancer, by its DNS name) and a private static-assets bucket (Origin Access Control),
 * with the split-URL function on viewer-request (and viewer-response) as Lambda@Edge. Lambda@Edge has no
 * environment variables, so the function's configuration is compiled into its bundle
 * (esbuild `define` of `__SPLIT_URL_CONFIG__`); changing it means redeploying.
 *
 * @example
 *   new SplitUrlDistribution(stack, 'SplitUrl', {
 *     experimentKey: 'homepage-redesign',
 *     originDomainName: 'api.experiments.example.com',
 *     experimentationApiUrl: 'https://api.experiments.example.com',
 *     experimentationApiKey: process.env.SPLIT_URL_EXPERIMENTATION_API_KEY ?? '',
 *   });
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { parseSplitUrlConfig, type SplitUrlConfig } from '../edge/split-url/split-url-handler.js';
import { createBundledFunction } from './bundled-function.js';

/** The split-URL viewer-request handler, relative to the repository root. */
export const SPLIT_URL_ENTRY = 'edge/split-url/viewer-request.ts';
/** The global the handler reads its configuration from. */
export const SPLIT_URL_CONFIG_GLOBAL = '__SPLIT_URL_CONFIG__';
/** Lambda@Edge functions must be created in this region. */
export const EDGE_REGION = 'us-east-1';
/** Path pattern served from the assets bucket instead of the origin. */
export const ASSETS_PATH_PATTERN = '/assets/*';

export interface SplitUrlDistributionProps {
  readonly experimentKey: string;
  /** DNS name of the origin (it must match the origin's TLS certificate). */
  readonly originDomainName: string;
  readonly experimentationApiUrl: string;
  /** Compiled into the function bundle: use a key that may only read assignments. */
  readonly experimentationApiKey: string;
  /** Custom hostname and its us-east-1 ACM certificate; without them CloudFront's default name is used. */
  readonly domainName?: string;
  readonly certificateArn?: string;
  /** ARN of a WAF web ACL (scope CLOUDFRONT) to attach. */
  readonly webAclArn?: string;
  readonly retainData?: boolean;
  /** Handler module relative to the repository root; defaults to SPLIT_URL_ENTRY. */
  readonly entry?: string;
}

/** Distribution, assets bucket, log bucket and the viewer-request Lambda@Edge function. */
export class SplitUrlDistribution extends Construct {
  readonly distribution: cloudfront.Distribution;
  readonly assetsBucket: s3.Bucket;
  readonly viewerRequestFunction: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: SplitUrlDistributionProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (stack.region !== EDGE_REGION) {
      throw new Error(`SplitUrlDistribution must be in a ${EDGE_REGION} stack (Lambda@Edge); got ${stack.region}`);
    }
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logBucket = new s3.Bucket(this, 'Logs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // CloudFront standard logging writes through ACLs.
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
    });
    Validations.of(logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the access logs of the distribution and the assets bucket.',
    });
    this.assetsBucket = new s3.Bucket(this, 'Assets', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: 'assets/',
      removalPolicy,
    });
    this.viewerRequestFunction = this.createViewerRequestFunction(props);
    this.distribution = this.createDistribution(props, logBucket);
  }

  private createViewerRequestFunction(props: SplitUrlDistributionProps): nodejs.NodejsFunction {
    const stack = Stack.of(this);
    // Checked with the handler's own parser: a bad value fails synth instead of turning the
    // deployed function into a silent pass-through.
    const config: SplitUrlConfig | string = parseSplitUrlConfig({
      experimentKey: props.experimentKey,
      experimentationApiUrl: props.experimentationApiUrl,
      experimentationApiKey: props.experimentationApiKey,
    });
    if (typeof config === 'string') throw new Error(`SplitUrlDistribution: ${config}`);
    // A fixed name, so the role can name the log groups the replicas create in every edge region.
    const functionName = `${stack.stackName}-${props.experimentKey}`.replace(/[^A-Za-z0-9-_]/g, '-').slice(0, 64);
    const fn = createBundledFunction(this, 'ViewerRequest', {
      entry: props.entry ?? SPLIT_URL_ENTRY,
      description: `Split-URL viewer-request for experiment ${props.experimentKey}`,
      functionName,
      architecture: lambda.Architecture.X86_64,
      memorySize: 128,
      timeout: Duration.seconds(5),
      define: { [SPLIT_URL_CONFIG_GLOBAL]: JSON.stringify(config) },
      minify: true,
      sourceMap: false,
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [
          `arn:${stack.partition}:logs:*:${stack.account}:log-group:/aws/lambda/${EDGE_REGION}.${functionName}:*`,
        ],
      }),
    );
    if (fn.role) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:*:${stack.account}:log-group:/aws/lambda/${EDGE_REGION}.${functionName}:*]`,
        reason: 'Lambda@Edge replicas log in the region that served the request; the group name is fixed.',
      });
    }
    return fn;
  }

  private createDistribution(props: SplitUrlDistributionProps, logBucket: s3.IBucket): cloudfront.Distribution {
    // TLS 1.2 as the minimum needs a custom certificate; the default *.cloudfront.net one is fixed at TLSv1.
    const customDomain =
      props.domainName && props.certificateArn
        ? {
            domainNames: [props.domainName],
            certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn),
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
          }
        : {};
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `Split-URL experiment ${props.experimentKey}`,
      ...customDomain,
      webAclId: props.webAclArn,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket,
      logFilePrefix: 'distribution/',
      defaultBehavior: {
        origin: new origins.HttpOrigin(props.originDomainName, {
          protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        // Pages vary per user (assignment cookie); caching is the origin's decision, not the edge's.
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        // The same version on viewer-response persists the cookies of visitors who were not redirected.
        edgeLambdas: [
          cloudfront.LambdaEdgeEventType.VIEWER_REQUEST,
          cloudfront.LambdaEdgeEventType.VIEWER_RESPONSE,
        ].map((eventType) => ({ functionVersion: this.viewerRequestFunction.currentVersion, eventType })),
      },
      additionalBehaviors: {
        [ASSETS_PATH_PATTERN]: {
          origin: origins.S3BucketOrigin.withOriginAccessControl(this.assetsBucket),
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        },
      },
    });
    if (!('certificate' in customDomain)) {
      // cdk-nag: the default *.cloudfront.net certificate cannot be pinned to TLS 1.2.
      Validations.of(distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'Default CloudFront certificate; set splitUrlDomainName and splitUrlCertificateArn for TLS 1.2 minimum.',
      });
    }
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason: 'Experiments run worldwide; no country is excluded.',
    });
    if (!props.webAclArn) {
      Validations.of(distribution).acknowledge({
        id: 'AwsSolutions-CFR2',
        reason: 'No web ACL configured for this stage; set splitUrlWebAclArn to attach one.',
      });
    }
    return distribution;
  }
}
