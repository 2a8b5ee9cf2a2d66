import { existsSync, readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runInOwnGroup } from './process-group.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < timeoutMs;) {
    if (done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return done();
}

describe('runInOwnGroup (how npm run mutate runs Stryker)', () => {
  it('stops the command and every process it started, a grandchild that ignores SIGTERM included', async () => {
    const pidFile = `/tmp/process-group-${process.pid}-${Date.now()}`;
    // The command starts a grandchild that ignores SIGTERM and sleeps, writes its pid, then sleeps itself.
    const script = [
      "const { spawn } = require('node:child_process');",
      "const { writeFileSync } = require('node:fs');",
      "const grandchild = spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setTimeout(() => {}, 60000)\"], { stdio: 'ignore' });",
      `writeFileSync(${JSON.stringify(pidFile)}, String(grandchild.pid));`,
      'setTimeout(() => {}, 60000);',
    ].join('\n');
    const run = runInOwnGroup(process.execPath, ['-e', script]);
    expect(await waitUntil(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').length > 0, 10_000)).toBe(true);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    rmSync(pidFile);
    // Give the grandchild time to install its SIGTERM handler.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(alive(grandchild)).toBe(true);

    run.stop('SIGTERM', 500);
    expect(await run.exited).toBe(1); // ended by SIGTERM
    // Before: stopping the command left its children running.
    expect(await waitUntil(() => !alive(grandchild), 5_000)).toBe(true);
  });

  it('answers the exit code of a command that ends by itself', async () => {
    expect(await runInOwnGroup(process.execPath, ['-e', 'process.exit(3)']).exited).toBe(3);
  });
});
