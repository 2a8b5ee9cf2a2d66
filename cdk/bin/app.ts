/**
 * CDK app entry point (`npm run synth`, `npm run cdk -- deploy --all`): reads the
 * configuration from context and the environment once, then builds the platform.
 */
import { App } from 'aws-cdk-lib';
import { buildPlatform } from '../platform.js';
import { loadPlatformConfig } from '../platform-config.js';

// Strong references (exports that block a producer from removing what a consumer still uses),
// stated so CDK stops asking; see aws-cdk-lib's README on reference strength.
const app = new App({ context: { '@aws-cdk/core:defaultCrossStackReferences': 'strong' } });
buildPlatform(
  app,
  loadPlatformConfig((key) => app.node.tryGetContext(key), process.env),
);
app.synth();
