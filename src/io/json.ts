import type { z } from 'zod';
import { readFile } from 'node:fs/promises';
import { inputError } from '../errors.js';
import { didYouMean } from '../suggest.js';

/**
 * Reading hand-written or tool-written JSON against a zod schema, with the problem said the
 * way every flowknn file error says it: the key's path, what was expected, and the line the key
 * stands on. Callers turn a problem into their own kind of error (a config is a usage error, a
 * model folder's file an input error).
 */
export interface JsonProblem {
  readonly message: string;
  readonly line?: number;
}

/** Line of the first occurrence of a key in a JSON text. */
export function jsonKeyLine(text: string, key: PropertyKey | undefined): number | undefined {
  if (key === undefined) return undefined;
  const at = text.indexOf(`"${String(key)}"`);
  return at < 0 ? undefined : text.slice(0, at).split('\n').length;
}

/**
 * The first problem of a failed parse: an unknown key named as such; inside a union, the
 * detail of its last alternative (the object form), unless `unions` words that path itself.
 */
export function schemaProblem(error: z.ZodError, text?: string, unions: Readonly<Record<string, string>> = {}, schema?: z.ZodType): JsonProblem {
  let issue = error.issues[0]! as z.core.$ZodIssue;
  let prefix: PropertyKey[] = [];
  for (;;) {
    const at = [...prefix, ...issue.path].map(String).join('.');
    if (issue.code === 'invalid_union' && unions[at] !== undefined) {
      return { message: `${at}: ${unions[at]}`, line: text === undefined ? undefined : jsonKeyLine(text, issue.path[issue.path.length - 1]) };
    }
    if (issue.code !== 'invalid_union' || issue.errors.length === 0 || issue.errors[issue.errors.length - 1]!.length === 0) break;
    prefix = [...prefix, ...issue.path];
    issue = issue.errors[issue.errors.length - 1]![0]!;
  }
  let path = [...prefix, ...issue.path].map(String);
  let message = issue.message;
  let key = issue.path[issue.path.length - 1];
  if (issue.code === 'unrecognized_keys') {
    path = [...path, issue.keys[0]!];
    // With the schema, a misspelt key is told with the key it is near (`clasify`: classify).
    const keys = schema === undefined ? undefined : keysAt(schema, [...prefix, ...issue.path]);
    message = `unknown key (${issue.keys.map((k) => `"${k}"${keys ? didYouMean(k, keys, (n) => `"${n}"`) : ''}`).join(', ')})${keys ? `; known: ${keys.join(', ')}` : ''}`;
    key = issue.keys[0];
  }
  return { message: `${path.join('.') || '(top level)'}: ${message}`, line: text === undefined ? undefined : jsonKeyLine(text, key) };
}

/** zod's definition of a schema, as far as keysAt walks it. */
interface Def {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly shape?: Record<string, z.ZodType>;
  readonly in?: z.ZodType;
}

/** The keys an object of the schema may have at `path`, or undefined where it is not one object. */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let at: z.ZodType | undefined = schema;
  let rest = [...path];
  for (;;) {
    const def: Def = (at as unknown as { _zod: { def: Def } })._zod.def;
    if (def.innerType !== undefined && ['default', 'prefault', 'optional', 'nullable', 'readonly'].includes(def.type)) at = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) at = def.in;
    else if (def.type === 'object' && def.shape !== undefined) {
      if (rest.length === 0) return Object.keys(def.shape).filter((k) => !k.startsWith('$'));
      at = def.shape[String(rest[0])];
      rest = rest.slice(1);
      if (at === undefined) return undefined;
    } else return undefined;
  }
}

/** JSON.parse, its failure as a problem with the line of the position it names. */
export function parseJsonText(text: string): { value: unknown } | { problem: JsonProblem } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    const m = /position (\d+)/u.exec((err as Error).message);
    return { problem: { message: `not valid JSON (${(err as Error).message})`, line: m ? text.slice(0, Number(m[1])).split('\n').length : undefined } };
  }
}

/**
 * A JSON file's value. A file that cannot be read throws what `unreadable` makes of the error
 * (each caller words it: a missing night output, a bad option); text that is not JSON is an
 * input error naming the file.
 */
export async function readJsonFile(path: string, unreadable: (err: unknown) => Error): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw unreadable(err);
  }
  const parsed = parseJsonText(text);
  if ('problem' in parsed) throw inputError(parsed.problem.message, { file: path });
  return parsed.value;
}
