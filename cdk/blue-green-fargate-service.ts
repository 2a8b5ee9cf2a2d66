/**
 * One Fargate service behind its own HTTPS Application Load Balancer, released by
 * CodeDeploy blue/green: 10% of traffic to the new task set, the rest after a 5-minute
 * bake, and automatic rollback when the new tasks fail their health checks, return 5xx or
 * the deployment stops. Scales between its bounds on CPU and memory.
 *
 * @example
 *   new BlueGreenFargateService(this, 'QueryApi', { name: 'experimentation-query-api', command: [...], ... });
 */
import { Duration, Validations } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
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

/** ALB + HTTPS listener + two target groups + Fargate service + scaling + CodeDeploy group + alarms. */
export class BlueGreenFargateService extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly listener: elbv2.ApplicationListener;
  readonly testListener: elbv2.ApplicationListener;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly deploymentGroup: codedeploy.EcsDeploymentGroup;
  readonly blueTargetGroup: elbv2.ApplicationTargetGroup;
  readonly greenTargetGroup: elbv2.ApplicationTargetGroup;

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
    this.listener = this.loadBalancer.addListener('Https', {
      port: HTTPS_PORT,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [props.certificate],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultTargetGroups: [this.blueTargetGroup],
      // The security group is owned by NetworkStack, which already opens 443.
      open: false,
    });
    // The green task set is reachable here before it takes production traffic; the port is open
    // only inside the VPC. CodeDeploy also needs the green target group attached to a listener.
    this.testListener = this.loadBalancer.addListener('Test', {
      port: TEST_LISTENER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [props.certificate],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      defaultTargetGroups: [this.greenTargetGroup],
      open: false,
    });
    this.taskDefinition = this.createTaskDefinition(props);
    this.service = new ecs.FargateService(this, 'Service', {
      serviceName: props.name,
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minTasks,
      // Never below the desired count while ECS replaces tasks; CodeDeploy runs releases separately.
      minHealthyPercent: 100,
      securityGroups: [props.serviceSecurityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY },
      healthCheckGracePeriod: Duration.seconds(60),
      enableExecuteCommand: false,
    });
    this.service.attachToApplicationTargetGroup(this.blueTargetGroup);
    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: CPU_TARGET_PERCENT });
    scaling.scaleOnMemoryUtilization('Memory', { targetUtilizationPercent: MEMORY_TARGET_PERCENT });
    this.deploymentGroup = this.createDeploymentGroup(props);
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

  private createDeploymentGroup(props: BlueGreenFargateServiceProps): codedeploy.EcsDeploymentGroup {
    const notify = new actions.SnsAction(props.alarmTopic);
    const rollbackAlarms = [this.blueTargetGroup, this.greenTargetGroup].map(
      (targetGroup, index) =>
        new cloudwatch.Alarm(this, `${index === 0 ? 'Blue' : 'Green'}UnhealthyTargets`, {
          alarmDescription: `${props.name}: targets failing ${HEALTH_CHECK_PATH} health checks`,
          metric: targetGroup.metrics.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
    const serverErrors = new cloudwatch.Alarm(this, 'TargetServerErrors', {
      alarmDescription: `${props.name}: the service answers with 5xx`,
      metric: this.loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
        period: Duration.minutes(1),
        statistic: 'Sum',
      }),
      threshold: 5,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const latency = new cloudwatch.Alarm(this, 'P99Latency', {
      alarmDescription: `${props.name}: p99 latency above ${P99_LATENCY_ALARM_SECONDS}s`,
      metric: this.loadBalancer.metrics.targetResponseTime({ period: Duration.minutes(1), statistic: 'p99' }),
      threshold: P99_LATENCY_ALARM_SECONDS,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [...rollbackAlarms, serverErrors, latency]) alarm.addAlarmAction(notify);
    const deploymentGroup = new codedeploy.EcsDeploymentGroup(this, 'Deployment', {
      application: new codedeploy.EcsApplication(this, 'Application', { applicationName: props.name }),
      deploymentGroupName: props.name,
      service: this.service,
      deploymentConfig: codedeploy.EcsDeploymentConfig.CANARY_10PERCENT_5MINUTES,
      blueGreenDeploymentConfig: {
        blueTargetGroup: this.blueTargetGroup,
        greenTargetGroup: this.greenTargetGroup,
        listener: this.listener,
        testListener: this.testListener,
        terminationWaitTime: Duration.minutes(5),
      },
      alarms: [...rollbackAlarms, serverErrors],
      autoRollback: { failedDeployment: true, deploymentInAlarm: true, stoppedDeployment: true },
    });
    // cdk-nag: CodeDeploy's own service policy; a hand-written copy would need the same ECS
    // and load-balancer actions and would miss the ones AWS adds for new deployment features.
    Validations.of(deploymentGroup.role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AWSCodeDeployRoleForECS]',
      reason: 'AWS-maintained service policy of CodeDeploy blue/green for ECS.',
    });
    return deploymentGroup;
  }
}
