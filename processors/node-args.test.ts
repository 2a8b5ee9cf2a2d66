import { describe, expect, it } from 'vitest';
import { PROCESSORS_OLD_SPACE_MIB, processorsNodeArgs } from './node-args.js';

describe('processorsNodeArgs: the old-space cap npm start and the bench give the processors', () => {
  it('caps the old space, unless NODE_OPTIONS already sets a cap (which then wins)', () => {
    expect(PROCESSORS_OLD_SPACE_MIB).toBe(256);
    expect(processorsNodeArgs({})).toEqual(['--max-old-space-size=256']);
    expect(processorsNodeArgs({ NODE_OPTIONS: '--enable-source-maps' })).toEqual(['--max-old-space-size=256']);
    expect(processorsNodeArgs({ NODE_OPTIONS: '--enable-source-maps --max-old-space-size=900' })).toEqual([]);
    expect(processorsNodeArgs({ NODE_OPTIONS: '--max-old-space-size-x' })).toEqual(['--max-old-space-size=256']);
  });
});
