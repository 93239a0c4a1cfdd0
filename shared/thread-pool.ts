// Piscina thread pools for CPU-bound data work (SPEC §2: decode and augment in a thread pool).
// A task module must be JavaScript: run from dist/ it sits beside its caller; run from the
// TypeScript sources (vitest), the caller's compiled twin in dist/ is used, so tests exercise the
// same code as the programs (npm test builds first).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { BackendError } from './errors.js';
import { packageRoot } from './package-root.js';

/** The file URL of compiled task module `taskFile` (e.g. './data-task.js'), relative to `callerUrl`. */
export function taskModuleUrl(callerUrl: string, taskFile: string): string {
  const beside = fileURLToPath(new URL(taskFile, callerUrl));
  if (existsSync(beside)) return pathToFileURL(beside).href;
  const root = packageRoot();
  const compiled = path.join(root, 'dist', path.relative(root, beside));
  if (existsSync(compiled)) return pathToFileURL(compiled).href;
  throw new BackendError('BACKEND_UNAVAILABLE', `the thread-pool task ${beside} is not built (looked for ${compiled} too): run \`npm run build\``);
}

export interface ThreadPoolOptions {
  threads: number;
  /**
   * Tasks handed to a thread at once. More than one lets a thread go on with queued work while
   * the main thread is busy (a training step blocks it for seconds) and cannot hand out more.
   */
  tasksPerThread?: number;
}

/**
 * Node 20.19+ lets `require` load ES modules, and piscina tries `require` before `import`. When
 * several threads do that at once, Node 20.20 can abort the whole process with "FATAL ERROR:
 * v8::Module::IsGraphAsync must be used on an instantiated module" (seen in CI). Turning that
 * feature off in the pool's threads makes `require` fail fast, and piscina falls back to `import`.
 */
function threadExecArgv(): string[] {
  const flag = '--no-experimental-require-module';
  const known = process.allowedNodeEnvironmentFlags.has(flag);
  return known && !process.execArgv.includes(flag) ? [...process.execArgv, flag] : process.execArgv;
}

export function createThreadPool(taskUrl: string, options: ThreadPoolOptions): Piscina {
  const threads = Math.max(1, Math.floor(options.threads));
  return new Piscina({
    filename: taskUrl,
    execArgv: threadExecArgv(),
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: options.tasksPerThread ?? 1,
    idleTimeout: Number.POSITIVE_INFINITY,
  });
}
