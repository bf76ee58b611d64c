import { rmSync } from 'node:fs';

/**
 * Temporary files and folders removed when the process is interrupted: an Arrow file being
 * written (io/arrow-stream.ts), a folder of links for one nfdump run (ingest/nfdump/run.ts).
 */

interface Registered {
  path: string;
  interrupt(signal: NodeJS.Signals): void;
}

const registered = new Set<Registered>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * On SIGINT/SIGTERM/SIGHUP while paths are registered: each is removed at once
 * (synchronously: the process may end right after) and its owner is told (an Arrow write
 * fails); when no other handler listens, the signal is raised again so the process ends as it
 * would have.
 */
function onSignal(signal: NodeJS.Signals): void {
  for (const w of registered) {
    try {
      rmSync(w.path, { force: true, recursive: true });
    } catch {
      // best effort: the process is going down
    }
    w.interrupt(signal);
  }
  registered.clear();
  uninstallSignals();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let signalsInstalled = false;

function installSignals(): void {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstallSignals(): void {
  if (!signalsInstalled) return;
  signalsInstalled = false;
  for (const s of SIGNALS) process.off(s, onSignal);
}

/**
 * Removes `path` (a temporary file or folder) if the process gets SIGINT, SIGTERM or SIGHUP
 * before the returned function is called (writeArrowStream registers its temporary file).
 * `onInterrupt` is told the signal, so that work in progress can stop.
 */
export function removeOnInterrupt(path: string, onInterrupt?: (signal: NodeJS.Signals) => void): () => void {
  const entry: Registered = { path, interrupt: (s) => onInterrupt?.(s) };
  registered.add(entry);
  installSignals();
  return () => {
    registered.delete(entry);
    if (registered.size === 0) uninstallSignals();
  };
}
