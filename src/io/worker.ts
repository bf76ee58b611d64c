import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread running one of flowknn's modules. The built package runs dist/*.js as is;
 * under the test runner and tsx the sources are TypeScript, and Node 20 workers take no
 * --import flag, so the thread registers the tsx loader (a dev dependency) before it imports
 * the module.
 */
export function startWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.href.endsWith('.ts')) return new Worker(url, options);
  // The ESM entry of tsx's API, found from its package.json (require.resolve gives the CJS one).
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  const api = new URL('./dist/esm/api/index.mjs', pathToFileURL(pkg)).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}
