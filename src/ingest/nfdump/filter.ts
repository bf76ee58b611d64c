import { execFile } from 'node:child_process';
import { environmentError, excerpt, usageError } from '../../errors.js';

/**
 * An nfdump filter checked once, before any file is read, by nfdump itself (`-Z`: check the
 * filter syntax and exit; 1.6 and 1.7 alike): a typo is one usage error (exit 2) naming what
 * nfdump found wrong, not the same failure repeated for every file of an archive.
 */
export async function checkNfdumpFilter(binary: string, filter: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (filter.trim() === '') return;
  const { stderr, stdout, error } = await new Promise<{ stdout: string; stderr: string; error: (Error & { code?: unknown }) | null }>((resolve) => {
    execFile(binary, ['-Z', filter], { env: { ...env, TZ: 'UTC', LC_ALL: 'C' }, timeout: 30_000, maxBuffer: 4 << 20 }, (err, out, errOut) =>
      resolve({ stdout: String(out), stderr: String(errOut), error: err }),
    );
  });
  if (!error) return;
  if (typeof error.code !== 'number') {
    throw environmentError(`cannot run ${binary} -Z to check the filter (${String(error.code ?? error.message)})`, "give the path of an nfdump binary (--nfdump PATH)");
  }
  // nfdump says where it stopped on its first line (`Line 1: syntax error at 'an'`); 1.7 lists
  // every protocol name after an unknown one, which is left out.
  const said = `${stderr}\n${stdout}`
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  throw usageError(`--filter "${excerpt(filter, 80)}": nfdump rejects it${said ? `: ${excerpt(said, 160)}` : ` (exit ${error.code})`}`, 'see the FILTER section of man nfdump, e.g. --filter "proto tcp and dst port 80"');
}
