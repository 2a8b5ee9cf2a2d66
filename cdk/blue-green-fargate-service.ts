/**
 * One Fargate service behind its own HTTPS Application Load Balancer, released by ECS's
 * built-in canary blue/green deployment (deployment controller `ECS`, strategy `CANARY`), so
 * a plain `cdk deploy` with a new image or environment releases it:
 *
 *   1. ECS starts the new revision's tasks (green) in the alternate target group, next to blue;
 *   2. it shifts 10% of production traffic to green (weighted listener rule) and bakes 5 minutes;
 *   3. it shifts the remaining 90% and bakes another 5 minutes with blue still running;
 *   4. it stops blue.
 *
 * Any deployment alarm (unhealthy targets or a 5xx rate above the threshold, per target group)
 * or the deployment circuit breaker (tasks that fail to start or fail health checks) rolls the
 * service back to blue at any step, and CloudFormation reports the update as failed.
 * Scales between its bounds on CPU and memory.
 *
 * @example
 *   new BlueGreenFargateService(this, 'QueryApi', { name: 'experimentation-query-api', command: [...], ... });
 */
import { Duration, Validations } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { HTTPS_PORT, TEST_LISTENER_PORT } from './network-stack.js';

/** Health endpoint every service serves (GET /health). */
export const HEALTH_CHECK_PATH = '/health';
/** Target CPU and memory utilisation the scaling policies hold. */
const CPU_TARGET_PERCENT = 60;
const MEMORY_TARGET_PERCENT = 70;
/** p99 latency an analyst or SDK should never wait longer than. */
const P99_LATENCY_ALARM_SECONDS = 1;
/** Share of production traffic the new revision takes first (the canary). */
export const CANARY_TRAFFIC_PERCENT = 10;
/** How long the canary runs before the rest of the traffic moves. */
export const CANARY_BAKE_TIME = Duration.minutes(5);
/** How long the old revision keeps running after the new one took all traffic (rollback stays instant). */
export const POST_SHIFT_BAKE_TIME = Duration.minutes(5);
/** 5xx responses of one target group, as a share of its requests, that roll a release back. */
export const SERVER_ERROR_RATE_ALARM_PERCENT = 5;

export interface BlueGreenFargateServiceProps {
  /** Physical name of the service and prefix of its load balancer's. */
  readonly name: string;
  readonly cluster: ecs.ICluster;
  readonly vpc: ec2.IVpc;
  readonly image: ecs.ContainerImage;
  /** Container command: which server of the shared image this service runs. */
  readonly command: string[];
  readonly containerPort: number;
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly minTasks: number;
  readonly maxTasks: number;
  /** Non-secret settings only; everything secret goes in `secrets`. */
  readonly environment: Record<string, string>;
  readonly secrets: Record<string, ecs.Secret>;
  readonly logGroup: logs.ILogGroup;
  readonly certificate: acm.ICertificate;
  readonly loadBalancerSecurityGroup: ec2.ISecurityGroup;
  readonly serviceSecurityGroup: ec2.ISecurityGroup;
  readonly accessLogBucket: s3.IBucket;
  readonly alarmTopic: sns.ITopic;
}

/**
 * ALB + HTTPS listener (one weighted rule over two target groups) + test listener + Fargate
 * service on the ECS canary strategy + scaling + deployment alarms.
 */
export class BlueGreenFargateService extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly listener: elbv2.ApplicationListener;
  readonly testListener: elbv2.ApplicationListener;
  /** The production rule whose weights ECS moves between blue and green during a release. */
  readonly productionRule: elbv2.ApplicationListenerRule;
  readonly testRule: elbv2.ApplicationListenerRule;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly blueTargetGroup: elbv2.ApplicationTargetGroup;
  readonly greenTargetGroup: elbv2.ApplicationTargetGroup;
  /** The alarms that roll a release back (they also page through the alarm topic). */
  readonly deploymentAlarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: BlueGreenFargateServiceProps) {
    super(scope, id);
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      loadBalancerName: props.name.slice(0, 32),
      vpc: props.vpc,
      internetFacing: true,
      securityGroup: props.loadBalancerSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(props.accessLogBucket, props.name);
    this.blueTargetGroup = this.targetGroup('Blue', props);
    this.greenTargetGroup = this.targetGroup('Green', props);
    // Requests that match no rule (none: the rule below matches every path) get a plain 404.
    const unmatched = elbv2.ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'not found' });
    this.listener = this.loadBalancer.addListener('Https', {
      port: HTTPS_PORT,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [props.certificate],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultAction: unmatched,
      // The security group is owned by NetworkStack, which already opens 443.
      open: false,
    });
    // The new revision is reachable here before it takes production traffic; the port is open
    // only inside the VPC.
    this.testListener = this.loadBalancer.addListener('Test', {
      port: TEST_LISTENER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [props.certificate],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultAction: unmatched,
      open: false,
    });
    this.productionRule = this.weightedRule('ProductionRule', this.listener);
    this.testRule = this.weightedRule('TestRule', this.testListener);
    this.taskDefinition = this.createTaskDefinition(props);
    this.deploymentAlarms = this.createAlarms(props);
    this.service = new ecs.FargateService(this, 'Service', {
      serviceName: props.name,
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minTasks,
      // Blue keeps its full count while green starts next to it.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      securityGroups: [props.serviceSecurityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      deploymentController: { type: ecs.DeploymentControllerType.ECS },
      deploymentStrategy: ecs.DeploymentStrategy.CANARY,
      canaryConfiguration: { stepPercent: CANARY_TRAFFIC_PERCENT, stepBakeTime: CANARY_BAKE_TIME },
      bakeTime: POST_SHIFT_BAKE_TIME,
      // Tasks that never become healthy stop the release and bring blue back.
      circuitBreaker: { enable: true, rollback: true },
      deploymentAlarms: {
        alarmNames: this.deploymentAlarms.map((alarm) => alarm.alarmName),
        behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
      },
      healthCheckGracePeriod: Duration.seconds(60),
      enableExecuteCommand: false,
    });
    this.service
      .loadBalancerTarget({
        containerName: 'App',
        containerPort: props.containerPort,
        alternateTarget: new ecs.AlternateTarget('AlternateTarget', {
          alternateTargetGroup: this.greenTargetGroup,
          productionListener: ecs.ListenerRuleConfiguration.applicationListenerRule(this.productionRule),
          testListener: ecs.ListenerRuleConfiguration.applicationListenerRule(this.testRule),
        }),
      })
      .attachToApplicationTargetGroup(this.blueTargetGroup);
    this.acknowledgeLoadBalancerRole();
    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: CPU_TARGET_PERCENT });
    scaling.scaleOnMemoryUtilization('Memory', { targetUtilizationPercent: MEMORY_TARGET_PERCENT });
  }

  /**
   * One rule matching every path, forwarding to blue (weight 100) and green (weight 0); ECS
   * rewrites the weights during a release (10/90, then 100 on the new revision).
   */
  private weightedRule(id: string, listener: elbv2.ApplicationListener): elbv2.ApplicationListenerRule {
    return new elbv2.ApplicationListenerRule(this, id, {
      listener,
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/*'])],
      action: elbv2.ListenerAction.weightedForward([
        { targetGroup: this.blueTargetGroup, weight: 100 },
        { targetGroup: this.greenTargetGroup, weight: 0 },
      ]),
    });
  }

  private targetGroup(color: string, props: BlueGreenFargateServiceProps): elbv2.ApplicationTargetGroup {
    return new elbv2.ApplicationTargetGroup(this, `${color}TargetGroup`, {
      vpc: props.vpc,
      targetType: elbv2.TargetType.IP,
      protocol: elbv2.ApplicationProtocol.HTTP,
      port: props.containerPort,
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        path: HEALTH_CHECK_PATH,
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
        healthyHttpCodes: '200',
      },
    });
  }

  private createTaskDefinition(props: BlueGreenFargateServiceProps): ecs.FargateTaskDefinition {
    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    taskDefinition.addContainer('App', {
      image: props.image,
      command: props.command,
      essential: true,
      portMappings: [{ containerPort: props.containerPort, protocol: ecs.Protocol.TCP }],
      environment: props.environment,
      secrets: props.secrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup: props.logGroup, streamPrefix: props.name }),
      // The image has no curl or wget; Node's fetch checks the same endpoint the load balancer does.
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${props.containerPort}${HEALTH_CHECK_PATH}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
      stopTimeout: Duration.seconds(30),
    });
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Only non-secret settings (names, ports, sizes) are plain variables; credentials come from Secrets Manager.',
    });
    return taskDefinition;
  }

  /**
   * Per target group (whichever holds the new revision): unhealthy targets, and 5xx responses
   * as a share of requests (a rate, so a canary at 10% of the traffic trips it as surely as a
   * full release). These roll a release back; with the p99 latency alarm they also page.
   */
  private createAlarms(props: BlueGreenFargateServiceProps): cloudwatch.Alarm[] {
    const notify = new actions.SnsAction(props.alarmTopic);
    const minute = Duration.minutes(1);
    const rollbackAlarms = (
      [
        ['Blue', this.blueTargetGroup],
        ['Green', this.greenTargetGroup],
      ] as const
    ).flatMap(([color, targetGroup]) => [
      new cloudwatch.Alarm(this, `${color}UnhealthyTargets`, {
        alarmDescription: `${props.name}: targets failing ${HEALTH_CHECK_PATH} health checks`,
        metric: targetGroup.metrics.unhealthyHostCount({ period: minute, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, `${color}ServerErrorRate`, {
        alarmDescription: `${props.name}: over ${SERVER_ERROR_RATE_ALARM_PERCENT}% of responses are 5xx`,
        metric: new cloudwatch.MathExpression({
          expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
          usingMetrics: {
            errors: targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
              period: minute,
              statistic: 'Sum',
            }),
            requests: targetGroup.metrics.requestCount({ period: minute, statistic: 'Sum' }),
          },
          period: minute,
          label: `${color} 5xx rate (%)`,
        }),
        threshold: SERVER_ERROR_RATE_ALARM_PERCENT,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ]);
    const latency = new cloudwatch.Alarm(this, 'P99Latency', {
      alarmDescription: `${props.name}: p99 latency above ${P99_LATENCY_ALARM_SECONDS}s`,
      metric: this.loadBalancer.metrics.targetResponseTime({ period: minute, statistic: 'p99' }),
      threshold: P99_LATENCY_ALARM_SECONDS,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [...rollbackAlarms, latency]) alarm.addAlarmAction(notify);
    return rollbackAlarms;
  }

  /** The role ECS assumes to move the listener rule's weights (created by AlternateTarget). */
  private acknowledgeLoadBalancerRole(): void {
    const role = this.service.node.tryFindChild('AlternateTargetRole') as iam.IRole | undefined;
    if (!role) return;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers]',
      reason:
        'AWS-maintained policy of ECS blue/green for load balancers: it may only modify listener rules and describe target groups.',
    });
  }
}
