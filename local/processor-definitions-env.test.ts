import { describe, expect, it } from 'vitest';
import { processorDefinitionsEnv } from './processor-definitions-env.js';

const URL = 'http://127.0.0.1:8080';
const key = () => 'run-key';

describe('npm start: the processors read definitions from the local query API', () => {
  it('points the processors at the local query API, with no key when the API is open', () => {
    expect(processorDefinitionsEnv({}, URL, key)).toEqual({
      processors: { PROCESSOR_DEFINITIONS_API_URL: URL },
      queryApi: {},
      generatedKey: false,
    });
  });

  it('makes a key for the run and adds it to API_KEYS when the query API checks keys', () => {
    expect(processorDefinitionsEnv({ API_KEYS: 'a,b' }, URL, key)).toEqual({
      processors: { PROCESSOR_DEFINITIONS_API_URL: URL, PROCESSOR_DEFINITIONS_API_KEY: 'run-key' },
      queryApi: { API_KEYS: 'a,b,run-key' },
      generatedKey: true,
    });
    expect(processorDefinitionsEnv({ COGNITO_USER_POOL_ID: 'pool' }, URL, key).queryApi).toEqual({
      API_KEYS: 'run-key',
    });
  });

  it('keeps a URL and a key the user set', () => {
    const env = { API_KEYS: 'a', PROCESSOR_DEFINITIONS_API_URL: 'http://api:9', PROCESSOR_DEFINITIONS_API_KEY: 'a' };
    expect(processorDefinitionsEnv(env, URL, key)).toEqual({
      processors: { PROCESSOR_DEFINITIONS_API_URL: 'http://api:9' },
      queryApi: {},
      generatedKey: false,
    });
  });
});
