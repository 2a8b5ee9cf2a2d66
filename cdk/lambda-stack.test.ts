import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { LAMBDA_ENTRIES } from './lambda-stack.js';
import {
  API_KEY_SECRET_ID_VARIABLE,
  DEFINITIONS_API_KEY_SECRET_ID_VARIABLE,
  STATE_PASSWORD_SECRET_ID_VARIABLE,
} from './service-environment.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform();
const { lambdas } = synthesized.platform;
const template = synthesized.template(lambdas);
const prod = synthesizePlatform({ bundle: false, context: { stage: 'prod' } });
const prodTemplate = prod.template(prod.platform.lambdas);

/** Statements of every inline policy of the stack. */
function policyStatements(): { Action: string | string[]; Resource: unknown }[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) =>
      (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement,
  );
}

describe('LambdaStack', () => {
  it('maps ExperimentEvents to the Event Processor with the exactly-once mapping settings', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 24 * 3600,
      ParallelizationFactor: 1,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
      EventSourceArn: Match.objectLike({ 'Fn::ImportValue': Match.stringLikeRegexp('EventsStream') }),
    });
  });

  it('sends the positions of abandoned batches to an encrypted, TLS-only queue', () => {
    const [queueId] = Object.keys(template.findResources('AWS::SQS::Queue'));
    const [mapping] = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    expect(JSON.stringify(mapping?.Properties.DestinationConfig)).toContain(queueId);
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('creates the three functions on the latest Node.js runtime, logging to the services group', () => {
    for (const name of [
      'experimentation-event-processor',
      'experimentation-assignment',
      'experimentation-flag-evaluation',
    ]) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: name,
        Runtime: 'nodejs24.x',
        Handler: 'index.handler',
        LoggingConfig: Match.objectLike({ LogFormat: 'JSON', LogGroup: Match.anyValue() }),
      });
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'experimentation-event-processor',
      VpcConfig: Match.objectLike({ SecurityGroupIds: [Match.anyValue(), Match.anyValue()] }),
      Environment: {
        Variables: Match.objectLike({
          KINESIS_STREAM_NAME: Match.anyValue(),
          KINESIS_DLQ_STREAM_NAME: Match.anyValue(),
          DYNAMODB_TABLE_NAME: Match.anyValue(),
          OPENSEARCH_ENDPOINT: Match.anyValue(),
          STATE_REDIS_URL: Match.anyValue(),
        }),
      },
    });
  });

  it('gives the Event Processor its durable state store as STATE_REDIS_URL, and no results cache', () => {
    const processor = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { FunctionName: 'experimentation-event-processor' },
      }),
    )[0];
    const variables = processor?.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables).not.toHaveProperty('REDIS_URL');
    expect(variables.PROCESSOR_STATE_STORE).toBe('redis');
    expect(variables.STATE_REDIS_CLUSTER).toBe('true');
    const url = JSON.stringify(variables.STATE_REDIS_URL);
    expect(url).toContain('rediss://experimentation-processors@');
    expect(url).toMatch(/ProcessorStateCluster\w*ClusterEndpointAddress/);
    expect(url).toContain(':6379');
    // The password is not in the configuration: the handler reads the secret at cold start.
    expect(url).not.toContain('resolve:secretsmanager');
    expect(JSON.stringify(variables[STATE_PASSWORD_SECRET_ID_VARIABLE])).toMatch(/ProcessorStatePassword/);
  });

  it('keeps every secret out of the functions’ configuration and lets each read only its own', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThanOrEqual(3);
    for (const fn of functions) expect(JSON.stringify(fn.Properties.Environment ?? {})).not.toContain('{{resolve:');
    const reads = Object.entries(template.findResources('AWS::IAM::Policy')).flatMap(([id, policy]) =>
      (
        policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }
      ).Statement.filter((statement) => [statement.Action].flat().includes('secretsmanager:GetSecretValue')).map(
        (statement) => [id.replace(/RoleDefaultPolicy\w+$/, ''), JSON.stringify(statement.Resource)] as const,
      ),
    );
    expect([...new Set(reads.map(([role]) => role))].sort()).toEqual([
      'Assignment',
      'EventProcessor',
      'FlagEvaluation',
    ]);
    for (const [role, resource] of reads) {
      expect(resource, role).toMatch(
        role === 'EventProcessor' ? /ProcessorStatePassword|InternalApiKey/ : /InternalApiKey/,
      );
      if (role !== 'EventProcessor') expect(resource, role).not.toMatch(/ProcessorStatePassword/);
      expect(resource, role).not.toContain('*');
    }
    // The Event Processor reads its state password and the internal key (definition lookups), nothing else.
    const processorReads = reads
      .filter(([role]) => role === 'EventProcessor')
      .map(([, resource]) => resource)
      .join();
    expect(processorReads).toMatch(/ProcessorStatePassword/);
    expect(processorReads).toMatch(/InternalApiKey/);
  });

  it('puts the Event Processor, and no other compute, in the group the state store admits', () => {
    const processorGroup = /ExportsOutputFnGetAttProcessorSecurityGroup/;
    const processor = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { FunctionName: 'experimentation-event-processor' },
      }),
    )[0];
    expect(JSON.stringify(processor?.Properties.VpcConfig.SecurityGroupIds)).toMatch(processorGroup);
    const members = Object.values(synthesized.platform)
      .filter((stack) => stack !== synthesized.platform.network)
      .flatMap((stack) =>
        Object.entries(synthesized.template(stack).toJSON().Resources as Record<string, unknown>)
          .filter(([, resource]) => processorGroup.test(JSON.stringify(resource)))
          .map(([id]) => `${stack.stackName}/${id}`),
      );
    expect(members).toEqual([expect.stringMatching(/^LambdaStack\/EventProcessor/)]);
  });

  it('scopes every permission to named resources (the only "*" is for VPC network interfaces)', () => {
    const statements = policyStatements();
    const wildcard = statements.filter((statement) => JSON.stringify(statement.Resource) === '"*"');
    for (const statement of wildcard) {
      for (const action of [statement.Action].flat())
        expect(action).toMatch(
          /^ec2:.*NetworkInterface|^ec2:(Assign|Unassign)PrivateIpAddresses$|^ec2:DescribeSubnets$/,
        );
    }
    const dynamo = statements.filter((statement) =>
      [statement.Action].flat().some((action) => action.startsWith('dynamodb:')),
    );
    expect(dynamo.flatMap((statement) => [statement.Action].flat()).sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
    ]);
    expect(JSON.stringify(dynamo.map((statement) => statement.Resource))).toContain('CountersTable');
  });

  it('bundles the Event Processor from processors/lambda-handler.ts', () => {
    expect(synthesized.missingHandlers).not.toContain(LAMBDA_ENTRIES.eventProcessor);
    const bundle = synthesized.bundledFile(lambdas, 'EventProcessor', 'index.mjs');
    const sourceMap = synthesized.bundledFile(lambdas, 'EventProcessor', 'index.mjs.map');
    expect(bundle).toContain('batchItemFailures');
    expect(sourceMap).toContain('processors/lambda-handler.ts');
    // The OpenSearch sink is imported lazily (when an endpoint is set); it must still be inside the one-file bundle.
    expect(sourceMap).toContain('processors/opensearch/from-config.ts');
    expect(sourceMap).toContain('processors/opensearch/event-index-sink.ts');
  });

  it('bundles the Assignment and Flag Evaluation functions from edge/', () => {
    const edgeHandlers = [LAMBDA_ENTRIES.assignment, LAMBDA_ENTRIES.flagEvaluation];
    expect(
      synthesized.missingHandlers.filter((entry) => edgeHandlers.includes(entry as (typeof edgeHandlers)[number])),
      'handler modules that do not exist yet',
    ).toEqual([]);
    expect(synthesized.bundledFile(lambdas, 'Assignment', 'index.mjs.map')).toContain(LAMBDA_ENTRIES.assignment);
    expect(synthesized.bundledFile(lambdas, 'FlagEvaluation', 'index.mjs.map')).toContain(
      LAMBDA_ENTRIES.flagEvaluation,
    );
  });

  it('points the Event Processor’s counter plans at the query API with the internal key’s secret, read at run time', () => {
    const processor = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { FunctionName: 'experimentation-event-processor' },
      }),
    )[0];
    const variables = processor?.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables.PROCESSOR_DEFINITIONS_API_URL).toBe('https://api.experiments.example.com');
    expect(variables).not.toHaveProperty('PROCESSOR_DEFINITIONS_API_KEY');
    expect(JSON.stringify(variables[DEFINITIONS_API_KEY_SECRET_ID_VARIABLE])).toMatch(/InternalApiKey/);
  });

  it('points the definition lookups at the query API with the internal key’s secret, read at run time', () => {
    for (const name of ['experimentation-assignment', 'experimentation-flag-evaluation']) {
      const fn = Object.values(
        template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: name } }),
      )[0];
      const variables = fn?.Properties.Environment.Variables as Record<string, unknown>;
      expect(variables.EXPERIMENTATION_API_URL).toBe('https://api.experiments.example.com');
      expect(variables).not.toHaveProperty('EXPERIMENTATION_API_KEY');
      expect(JSON.stringify(variables[API_KEY_SECRET_ID_VARIABLE])).toMatch(/InternalApiKey/);
    }
  });

  it('gives Assignment and Flag Evaluation AWS_IAM function URLs that nothing unauthenticated can call', () => {
    for (const stageTemplate of [template, prodTemplate]) {
      const urls = Object.values(stageTemplate.findResources('AWS::Lambda::Url'));
      expect(urls).toHaveLength(2);
      for (const url of urls) expect(url.Properties.AuthType).toBe('AWS_IAM');
      expect(urls.map((url) => JSON.stringify(url.Properties.TargetFunctionArn)).sort()).toEqual([
        expect.stringMatching(/"Assignment[0-9A-F]{8}"/),
        expect.stringMatching(/"FlagEvaluation[0-9A-F]{8}"/),
      ]);
      // No resource policy admits everyone (CDK adds `*` + FunctionUrlAuthType NONE only for public URLs).
      for (const permission of Object.values(stageTemplate.findResources('AWS::Lambda::Permission'))) {
        expect(permission.Properties.Principal).not.toBe('*');
        expect(permission.Properties.FunctionUrlAuthType).not.toBe('NONE');
      }
      // Callers get exactly these two functions, nothing else.
      const [invoker] = Object.values(stageTemplate.findResources('AWS::IAM::ManagedPolicy'));
      const statements = (
        invoker?.Properties.PolicyDocument as { Statement: { Action: string[]; Resource: unknown[] }[] }
      ).Statement;
      expect(statements).toHaveLength(1);
      expect(statements[0]?.Action).toEqual(['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']);
      expect(JSON.stringify(statements[0]?.Resource)).toMatch(/Assignment[0-9A-F]{8}.*FlagEvaluation[0-9A-F]{8}/);
      expect(JSON.stringify(statements[0]?.Resource)).not.toContain('*');
    }
  });
});
