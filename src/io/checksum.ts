import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 of bytes, as lowercase hex (the form sha256sum prints). */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file, read as a stream (files may be larger than memory). */
export function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (b) => hash.update(b))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}
