/** PipelineError: what a raised error carries, and what it shows when printed or logged. */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PipelineError } from './errors.js';

describe('PipelineError', () => {
  it('keeps the cause it was given, and prints it', () => {
    const cause = new Error('connection reset');
    const error = new PipelineError('SINK_FAILED', 'the counter write failed', { cause });
    expect(error.cause).toBe(cause);
    expect(inspect(error)).toContain('[cause]: Error: connection reset');
  });

  it('has no cause at all when none was given: nothing prints "[cause]: undefined"', () => {
    const error = new PipelineError('VALIDATION_FAILED', 'invalid input');
    expect('cause' in error).toBe(false);
    expect(inspect(error)).not.toContain('[cause]');
    // An explicitly undefined cause is no cause either.
    const explicit = new PipelineError('VALIDATION_FAILED', 'invalid input', { cause: undefined });
    expect('cause' in explicit).toBe(false);
    expect(inspect(explicit)).not.toContain('[cause]');
  });
});
