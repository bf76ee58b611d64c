import { FlowknnError } from '../../src/errors.js';

/**
 * The FlowknnError a promise (or a function, sync or async) ends with; anything else it throws
 * is rethrown, and ending without an error fails the test.
 */
export async function failure(p: Promise<unknown> | (() => unknown)): Promise<FlowknnError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (err instanceof FlowknnError) return err;
    throw err;
  }
  throw new Error('expected a FlowknnError, it ended without one');
}
