import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { main } from '../../src/cli/main.js';
import { REPO_ROOT } from './paths.js';

/** The repository root; the CLI runs (in-process or built) with relative paths against it. */
export const ROOT = REPO_ROOT;

/** A Writable that keeps everything written to it as text. */
export class Collector extends Writable {
  private readonly chunks: Buffer[] = [];

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    done();
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, as `flowknn ...argv` would, capturing its output. */
export async function runMain(argv: string[]): Promise<RunResult> {
  const stdout = new Collector();
  const stderr = new Collector();
  const code = await main(argv, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let building: Promise<void> | undefined;

/** Builds dist/ (`npm run build`) when the compiled CLI is missing; once per test process. */
export function ensureBuilt(): Promise<void> {
  if (existsSync(join(ROOT, 'dist/cli/main.js'))) return Promise.resolve();
  building ??= promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT, timeout: 300_000 }).then(() => undefined);
  return building;
}

/** Runs the built CLI (`node bin/flowknn.js ...argv`) in the repository root; `uid`/`gid` run it
 *  as another user (root only: permission tests, which root itself would pass). */
export async function runBin(argv: string[], options: { cwd?: string; timeoutMs?: number; uid?: number; gid?: number } = {}): Promise<RunResult> {
  await ensureBuilt();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/flowknn.js'), ...argv], {
      cwd: options.cwd ?? ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === null) {
        reject(new Error(`flowknn ${argv.join(' ')} ended by ${signal ?? 'a signal'}`));
        return;
      }
      resolvePromise({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}
