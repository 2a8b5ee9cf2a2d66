/**
 * Directories for embedded-store tests, removed after the file's tests, and direct access to
 * a closed store's LMDB environment (to inspect or rewrite what it wrote).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { afterAll } from 'vitest';

const directories: string[] = [];
afterAll(() => Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true }))));

/** A new empty directory for a store, removed once the test file is done. */
export async function newDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'embedded-state-'));
  directories.push(directory);
  return directory;
}

/** Opens the store's LMDB environment directly (the store closed), runs `work` on it and closes it again. */
export async function withEnvironment<T>(directory: string, work: (root: RootDatabase) => T): Promise<T> {
  const root = open({ path: directory, maxDbs: 8 });
  try {
    return work(root);
  } finally {
    await root.close();
  }
}
