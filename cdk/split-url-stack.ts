/**
 * SplitUrlStack: the split-URL experiment at the edge. Always deployed to us-east-1
 * (Lambda@Edge functions must live there; CloudFront is global). It reaches the query API
 * by its DNS name, not by a reference, so it has no cross-region dependency.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { PlatformConfig } from './platform-config.js';
import { edgeApiKeySecretName } from './api-stack.js';
import { SplitUrlDistribution } from './split-url-distribution.js';

export interface SplitUrlStackProps extends StackProps {
  readonly config: PlatformConfig;
  /** Handler module to bundle instead of the default. */
  readonly entry?: string;
}

/** One SplitUrlDistribution configured from the platform settings. */
export class SplitUrlStack extends Stack {
  readonly splitUrl: SplitUrlDistribution;

  constructor(scope: Construct, id: string, props: SplitUrlStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.splitUrl = new SplitUrlDistribution(this, 'SplitUrl', {
      experimentKey: config.splitUrl.experimentKey,
      originDomainName: config.services.apiDomainName,
      experimentationApiUrl: config.experimentationApiUrl,
      apiKeySecretName: edgeApiKeySecretName(config),
      staticSiteSource: config.staticSiteSource,
      domainName: config.splitUrl.domainName,
      certificateArn: config.splitUrl.certificateArn,
      webAclArn: config.splitUrl.webAclArn,
      retainData: config.retainData,
      entry: props.entry,
    });
    new CfnOutput(this, 'DistributionDomainName', {
      description: 'Where visitors of the split-URL experiment are sent',
      value: this.splitUrl.distribution.distributionDomainName,
    });
  }
}
