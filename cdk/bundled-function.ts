/**
 * A NodejsFunction bundled locally with esbuild from this repository's TypeScript (no
 * Docker), with a role that may write only to its own log group. Every function of the
 * platform is built here so bundling, runtime and logging are decided once.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: entries are given relative to it, and it is esbuild's project root. */
export const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The newest Node.js runtime Lambda (and Lambda@Edge) offers. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * ESM bundles still meet CommonJS dependencies that call `require`; this gives them one.
 * The alias avoids clashing with a `createRequire` import inside the bundle.
 */
const ESM_REQUIRE_SHIM =
  "import { createRequire as __bundledCreateRequire } from 'node:module'; const require = __bundledCreateRequire(import.meta.url);";

export interface BundledFunctionProps {
  /** Handler module, relative to the repository root (e.g. `processors/lambda-handler.ts`). */
  readonly entry: string;
  readonly description: string;
  readonly functionName?: string;
  readonly memorySize?: number;
  readonly timeout?: Duration;
  readonly environment?: Record<string, string>;
  /** Where the function logs. For Lambda@Edge leave it unset: replicas log per region. */
  readonly logGroup?: logs.ILogGroup;
  readonly vpc?: ec2.IVpc;
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** Lambda@Edge runs only on x86_64; regional functions default to Graviton. */
  readonly architecture?: lambda.Architecture;
  /** Compile-time constants (esbuild `define`), e.g. the edge function's configuration. */
  readonly define?: Record<string, string>;
  /** Smaller bundles load faster; Lambda@Edge also caps the package size. */
  readonly minify?: boolean;
  /** Source maps need NODE_OPTIONS, which Lambda@Edge does not allow. */
  readonly sourceMap?: boolean;
}

/** Builds the function and its least-privilege role. */
export function createBundledFunction(
  scope: Construct,
  id: string,
  props: BundledFunctionProps,
): nodejs.NodejsFunction {
  const sourceMap = props.sourceMap ?? true;
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Execution role of ${props.description}`,
  });
  if (props.logGroup) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // The group's ARN attribute ends in `:*`, which covers its streams and nothing else.
        resources: [props.logGroup.logGroupArn],
      }),
    );
  }
  if (props.vpc) grantNetworkInterfaces(role);
  const fn = new nodejs.NodejsFunction(scope, id, {
    entry: path.join(REPOSITORY_ROOT, props.entry),
    handler: 'handler',
    projectRoot: REPOSITORY_ROOT,
    depsLockFilePath: path.join(REPOSITORY_ROOT, 'package-lock.json'),
    runtime: FUNCTION_RUNTIME,
    architecture: props.architecture ?? lambda.Architecture.ARM_64,
    description: props.description,
    functionName: props.functionName,
    memorySize: props.memorySize ?? 512,
    timeout: props.timeout ?? Duration.seconds(30),
    role,
    logGroup: props.logGroup,
    loggingFormat: props.logGroup ? lambda.LoggingFormat.JSON : undefined,
    vpc: props.vpc,
    securityGroups: props.securityGroups,
    environment: {
      ...(sourceMap ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
      ...props.environment,
    },
    bundling: {
      forceDockerBundling: false,
      format: nodejs.OutputFormat.ESM,
      target: 'node24',
      mainFields: ['module', 'main'],
      banner: ESM_REQUIRE_SHIM,
      // The whole SDK is bundled so the code runs against the versions it was tested with.
      externalModules: ['pg-native'],
      minify: props.minify ?? false,
      keepNames: true,
      sourceMap,
      sourcesContent: false,
      define: props.define,
      logLevel: nodejs.LogLevel.WARNING,
    },
  });
  return fn;
}

/**
 * Functions in a VPC create and delete their network interfaces. EC2 does not support
 * resource-level permissions for these calls, hence the one acknowledged wildcard.
 */
function grantNetworkInterfaces(role: iam.Role): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:RequestedRegion': Stack.of(role).region } },
    }),
  );
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'EC2 network-interface actions for VPC Lambdas do not support resource-level permissions.',
  });
}
