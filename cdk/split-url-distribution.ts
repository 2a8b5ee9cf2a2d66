/**
 * SplitUrlDistribution: CloudFront in front of the platform's origin (the query API's load
 * balancer, by its DNS name) and a private frontend bucket (Origin Access Control), with the
 * split-URL function on viewer-request (and viewer-response) as Lambda@Edge.
 *
 * - Lambda@Edge has no environment variables, so the function's configuration is compiled
 *   into its bundle (esbuild `define` of `__SPLIT_URL_CONFIG__`) — but not its API key: the
 *   bundle names a Secrets Manager secret in us-east-1 that the function's role alone may
 *   read, at run time (edge/split-url/edge-secret.ts). Rotating the key needs no redeploy.
 * - The frontend bucket serves the results pages (query-api/ui, `npm run build:ui`):
 *   `/ui/assets/*` (content-hashed files: cached a year, immutable) and `/ui/*` (the page:
 *   60 s; a CloudFront Function answers every client-side route, `/ui/experiments/{key}`…,
 *   with `/ui/index.html`), deployed from `staticSiteSource` when that folder exists.
 *   `/ui/config.json` (how to sign in) and `/api/*` go to the query API: same origin.
 * - The function and its versions are retained on stack deletion: CloudFront removes its
 *   replicas only hours after the distribution is gone, and until then they cannot be deleted.
 *
 * @example
 *   new SplitUrlDistribution(stack, 'SplitUrl', {
 *     experimentKey: 'homepage-redesign',
 *     originDomainName: 'api.experiments.example.com',
 *     experimentationApiUrl: 'https://api.experiments.example.com',
 *     apiKeySecretName: 'experimentation/edge/split-url-api-key',
 *   });
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { parseSplitUrlConfig, type SplitUrlConfig } from '../edge/split-url/split-url-handler.js';
import { createBundledFunction, REPOSITORY_ROOT } from './bundled-function.js';

/** The split-URL viewer-request handler, relative to the repository root. */
export const SPLIT_URL_ENTRY = 'edge/split-url/viewer-request.ts';
/** The global the handler reads its configuration from. */
export const SPLIT_URL_CONFIG_GLOBAL = '__SPLIT_URL_CONFIG__';
/** Lambda@Edge functions must be created in this region. */
export const EDGE_REGION = 'us-east-1';
/** Content-hashed static files in the frontend bucket: cached for a year, never revalidated. */
export const ASSETS_PATH_PATTERN = '/ui/assets/*';
/** The pages' sign-in settings: answered by the query API (its auth configuration), never cached. */
export const UI_CONFIG_PATH = '/ui/config.json';
/**
 * CloudFront Function (viewer-request) of the pages: a path without a file extension is a
 * client-side route of the single page, answered with `/ui/index.html`.
 */
export const UI_ROUTES_FUNCTION_CODE = [
  'function handler(event) {',
  '  var request = event.request;',
  "  var last = request.uri.split('/').pop();",
  "  if (last.indexOf('.') === -1) request.uri = '/ui/index.html';",
  '  return request;',
  '}',
].join('\n');
/** The static pages (HTML) in the frontend bucket: cached briefly, so a deploy shows within a minute. */
export const PAGES_PATH_PATTERN = '/ui/*';
/** Cache lifetimes of the two kinds of static files (CloudFront and the browsers' Cache-Control). */
export const HASHED_ASSET_MAX_AGE = Duration.days(365);
export const PAGE_MAX_AGE = Duration.seconds(60);

export interface SplitUrlDistributionProps {
  readonly experimentKey: string;
  /** DNS name of the origin (it must match the origin's TLS certificate). */
  readonly originDomainName: string;
  readonly experimentationApiUrl: string;
  /**
   * Name of the Secrets Manager secret (in us-east-1, JSON key `keys`) with the function's API
   * key; only the name is compiled in, the function's role may read this secret alone.
   */
  readonly apiKeySecretName: string;
  /**
   * Folder of built static pages (absolute, or relative to the repository root): `assets/`
   * (hashed files) and the pages around it. Deployed when it exists, skipped otherwise.
   */
  readonly staticSiteSource?: string;
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
  /** The static site's uploads (empty when `staticSiteSource` does not exist). */
  readonly staticSiteDeployments: s3deploy.BucketDeployment[];

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
      // A development stack must be destroyable: a bucket with objects in it blocks the deletion.
      autoDeleteObjects: !props.retainData,
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
      autoDeleteObjects: !props.retainData,
    });
    this.viewerRequestFunction = this.createViewerRequestFunction(props);
    this.distribution = this.createDistribution(props, logBucket);
    this.staticSiteDeployments = this.deployStaticSite(props);
  }

  /**
   * Uploads the built static site when its folder exists: `assets/**` under `ui/assets/` with
   * a year-long immutable Cache-Control, the rest (pages) under `ui/` with 60 s. Nothing is pruned, so
   * pages still open in browsers keep finding the hashed files of their release.
   */
  private deployStaticSite(props: SplitUrlDistributionProps): s3deploy.BucketDeployment[] {
    if (!props.staticSiteSource) return [];
    const source = path.resolve(REPOSITORY_ROOT, props.staticSiteSource);
    if (!existsSync(source)) return [];
    const deployments: s3deploy.BucketDeployment[] = [];
    const assets = path.join(source, 'assets');
    if (existsSync(assets)) {
      deployments.push(
        new s3deploy.BucketDeployment(this, 'HashedAssets', {
          sources: [s3deploy.Source.asset(assets)],
          destinationBucket: this.assetsBucket,
          destinationKeyPrefix: 'ui/assets/',
          prune: false,
          cacheControl: [
            s3deploy.CacheControl.setPublic(),
            s3deploy.CacheControl.maxAge(HASHED_ASSET_MAX_AGE),
            s3deploy.CacheControl.immutable(),
          ],
        }),
      );
    }
    deployments.push(
      new s3deploy.BucketDeployment(this, 'Pages', {
        sources: [s3deploy.Source.asset(source, { exclude: ['assets', 'assets/**'] })],
        destinationBucket: this.assetsBucket,
        destinationKeyPrefix: 'ui/',
        prune: false,
        cacheControl: [
          s3deploy.CacheControl.setPublic(),
          s3deploy.CacheControl.maxAge(PAGE_MAX_AGE),
          s3deploy.CacheControl.mustRevalidate(),
        ],
      }),
    );
    for (const deployment of deployments) {
      // Runs on the next deployment only when a page is present, in order: assets before pages.
      deployment.node.addDependency(this.distribution);
    }
    const pages = deployments[deployments.length - 1];
    if (pages && deployments.length > 1) pages.node.addDependency(deployments[0] as s3deploy.BucketDeployment);
    acknowledgeBucketDeployment(Stack.of(this), this.assetsBucket);
    return deployments;
  }

  private createViewerRequestFunction(props: SplitUrlDistributionProps): nodejs.NodejsFunction {
    const stack = Stack.of(this);
    // Checked with the handler's own parser: a bad value fails synth instead of turning the
    // deployed function into a silent pass-through.
    const config: SplitUrlConfig | string = parseSplitUrlConfig({
      experimentKey: props.experimentKey,
      experimentationApiUrl: props.experimentationApiUrl,
      experimentationApiKey: '',
      experimentationApiKeySecret: { secretId: props.apiKeySecretName, region: EDGE_REGION },
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
    // Its own credential: this one secret, read at run time (the name's 6-character suffix is AWS's).
    const secretArn = `arn:${stack.partition}:secretsmanager:${EDGE_REGION}:${stack.account}:secret:${props.apiKeySecretName}-??????`;
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn] }));
    if (fn.role) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:*:${stack.account}:log-group:/aws/lambda/${EDGE_REGION}.${functionName}:*]`,
        reason: 'Lambda@Edge replicas log in the region that served the request; the group name is fixed.',
      });
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:${EDGE_REGION}:${stack.account}:secret:${props.apiKeySecretName}-??????]`,
        reason: 'One secret by name; the wildcard is the random suffix Secrets Manager appends to every secret ARN.',
      });
    }
    // Replicas outlive the distribution by hours; deleting the function before that fails the stack.
    fn.applyRemovalPolicy(RemovalPolicy.RETAIN);
    fn.currentVersion.applyRemovalPolicy(RemovalPolicy.RETAIN);
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
    const frontend = origins.S3BucketOrigin.withOriginAccessControl(this.assetsBucket);
    const api = new origins.HttpOrigin(props.originDomainName, {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
    });
    const uiRoutes = new cloudfront.Function(this, 'UiRoutes', {
      comment: 'Results pages: client-side routes answer with /ui/index.html',
      code: cloudfront.FunctionCode.fromInline(UI_ROUTES_FUNCTION_CODE),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `Split-URL experiment ${props.experimentKey}`,
      ...customDomain,
      webAclId: props.webAclArn,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket,
      logFilePrefix: 'distribution/',
      defaultBehavior: {
        origin: api,
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
        // First match wins: the settings before the pages' wildcard.
        [UI_CONFIG_PATH]: {
          origin: api,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        },
        [ASSETS_PATH_PATTERN]: {
          origin: frontend,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          cachePolicy: this.cachePolicy('HashedAssetsCache', 'Content-hashed files: one year', HASHED_ASSET_MAX_AGE),
          compress: true,
        },
        [PAGES_PATH_PATTERN]: {
          origin: frontend,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          cachePolicy: this.cachePolicy('PagesCache', 'Static pages: one minute', PAGE_MAX_AGE),
          compress: true,
          functionAssociations: [{ function: uiRoutes, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
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

  /** A cache policy of one lifetime (default = max; min 0 so an origin `no-store` is honoured). */
  private cachePolicy(id: string, comment: string, maxAge: Duration): cloudfront.CachePolicy {
    return new cloudfront.CachePolicy(this, id, {
      comment,
      defaultTtl: maxAge,
      maxTtl: maxAge,
      minTtl: Duration.seconds(0),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });
  }
}

/**
 * cdk-nag findings of CDK's BucketDeployment handler (one per stack): its role reads only
 * the CDK asset bucket and writes only the frontend bucket (with the `Action*` families CDK
 * grants), under AWS's basic execution policy.
 */
function acknowledgeBucketDeployment(stack: Stack, frontendBucket: s3.Bucket): void {
  const handler = stack.node.children.find((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'));
  if (!handler) return;
  const reason =
    'CDK BucketDeployment handler: uploads the static site into the frontend bucket at deploy time; its grants name that bucket and the CDK asset bucket.';
  const frontendId = stack.getLogicalId(frontendBucket.node.defaultChild as s3.CfnBucket);
  const ids = [
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'AwsSolutions-L1',
    ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map(
      (action) => `AwsSolutions-IAM5[Action::${action}]`,
    ),
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-${stack.account}-${stack.region}/*]`,
    `AwsSolutions-IAM5[Resource::<${frontendId}.Arn>/*]`,
  ];
  for (const id of ids) Validations.of(handler).acknowledge({ id, reason });
}
