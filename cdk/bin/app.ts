/**
 * CDK app entry point (`npm run synth`, `npm run cdk -- deploy --all`): reads the
 * configuration from context and the environment once, then builds the platform.
 */
import { App } from 'aws-cdk-lib';
import { buildPlatform } from '../platform.js';
import { loadPlatformConfig } from '../platform-config.js';

const app = new App();
buildPlatform(
  app,
  loadPlatformConfig((key) => app.node.tryGetContext(key), process.env),
);
app.synth();
