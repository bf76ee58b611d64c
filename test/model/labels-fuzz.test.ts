/**
 * Fuzz test of the ways operators give labels: a labels folder (one nfdump statistics file, text
 * or CSV, per class, the file name giving the class; optional classes.txt), a labelled table (CSV
 * with a `label` column beside the feature columns), `label add --csv` (key,window,label lines
 * looked up in an aggregates table) and `label add --predictions` (a predictions CSV whose label
 * column the operator filled in). Valid inputs are mutated with a seeded generator: bytes
 * flipped, text cut at every kind of boundary (line end, mid-number, after a separator), separators
 * doubled or removed, huge fields, control bytes, U+FFFD and invalid UTF-8, byte order marks, CRLF,
 * odd numbers (negative, Infinity, NaN, 1e30, hex), odd label and file names (path separators,
 * dots, blanks, non-ASCII, empty), lines dropped, repeated or swapped.
 *
 * Every case must end in one of two ways:
 * - rejected with a FlowknnError of kind input or usage that names the file (and a line, where
 *   the oracle below finds the first bad line of a single file);
 * - accepted, with every row equal to what the oracle computes from the mutated bytes: a simple
 *   restatement of each format's rules (numbers as Number() of a decimal after the format's own
 *   splitting, labels by the documented name rule, rows by file and line). An input the oracle
 *   finds bad, accepted, is a silent wrong row; so is a row whose values, label or line differ.
 * Anything else thrown is a crash; a case slower than CASE_MS, or one the watchdog finds stuck
 * for HANG_MS, is a hang.
 *
 * The cases run in a worker thread, watched from here as in test/ingest/fuzz.test.ts. Every case
 * is a function of (seed, case number), so one failure replays alone:
 *   FLOWKNN_TEST_SEED=<seed> FLOWKNN_FUZZ_CASE=<n> npx vitest run test/model/labels-fuzz.test.ts
 * FLOWKNN_FUZZ_CASES sets the number of cases (default 900); FLOWKNN_FUZZ_WAY=folder, table,
 * label-add or predictions runs every case as that way (for a longer run of one).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BlockList, isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface FuzzData {
  flowknnLabelsFuzz: true;
  seed: number;
  first: number;
  cases: number;
  progress: SharedArrayBuffer;
}

type Way = 'folder' | 'table' | 'label-add' | 'predictions';
const WAYS: readonly Way[] = ['folder', 'table', 'label-add', 'predictions'];

interface Failure {
  case: number;
  way: Way;
  kind: 'crash' | 'hang' | 'silent wrong row' | 'error without file or line';
  what: string;
  input: string;
}

interface Counts {
  cases: number;
  accepted: number;
  rejected: number;
  crashes: number;
  hangs: number;
  silentWrongRows: number;
  errorsWithoutPlace: number;
  /** Rejected inputs the oracle had no objection to: lines it leaves to the reader (a data line
   *  mutated so that it no longer starts with a date, nfdump's headings), NUL bytes (binary data
   *  to the sniffer), labels that share a probability column. Allowed (stricter is safe), counted. */
  refusedValid: number;
}

interface Done {
  type: 'done';
  failures: Failure[];
  counts: Counts;
  byWay: Record<Way, { accepted: number; rejected: number }>;
  ms: number;
  slowestMs: number;
}

/** A single case slower than this is a hang (inputs are at most ~200 KB; a label add case
 *  starts a thread to check the --data Arrow file, which takes a few hundred ms). */
const CASE_MS = 5000;
/** The watchdog's bound: a case still running after this long is stuck. */
const HANG_MS = 15_000;

const here = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(here, '../..');
const FEATURES = ['duration_s', 'flows', 'packets', 'bytes', 'pps', 'bps', 'bpp'] as const;

// ---------------------------------------------------------------------------------------------
// The oracle: each format's rules, restated as simply as they can be.

/** A class name as labels.ts documents it. */
const LABEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/u;
/** A plain decimal, as the CSV formats take numbers. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/u;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TEN_YEARS_S = 10 * 365.25 * 86400;

/** What the oracle says of an input: the rows it must give, or that it must be refused. */
type Verdict<R> = { ok: true; rows: R[] } | { ok: false; why: string; file?: string; line?: number };

const bad = (why: string, file?: string, line?: number): { ok: false; why: string; file?: string; line?: number } => ({ ok: false, why, file, line });

function decimal(cell: string): number | undefined {
  const t = cell.trim();
  if (!DECIMAL.test(t)) return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}

/** `YYYY-MM-DD hh:mm:ss[.mmm]` (nfdump), UTC; 0000-00-00 00:00:00 is time 0. */
function nfdumpTime(text: string): number | undefined {
  if (/^0000-00-00[ T]00:00:00(?:\.0{1,3})?$/u.test(text)) return 0;
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?$/u.exec(text);
  if (!m) return undefined;
  return validUtc(m.slice(1, 7).map(Number), Number((m[7] ?? '0').padEnd(3, '0')));
}

function validUtc([y, mo, d, h, mi, s]: number[], ms: number): number | undefined {
  const t = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms);
  const b = new Date(t);
  if (Number.isNaN(t) || b.getUTCFullYear() !== y || b.getUTCMonth() !== mo! - 1 || b.getUTCDate() !== d || b.getUTCHours() !== h || b.getUTCMinutes() !== mi || b.getUTCSeconds() !== s) return undefined;
  return t;
}

interface StatRow {
  line: number;
  key: string;
  firstSeen: number | null;
  features: number[];
}

const UNIT: Record<string, number> = { k: 3, K: 3, M: 6, G: 9, T: 12 };
/** nfdump's numbers with decimal units: `52.6 M` is 52.6e6. */
function human(text: string): number {
  const m = /^([+-]?\d+(?:\.\d+)?)\s*([kKMGT])?$/u.exec(text.trim())!;
  return Number(m[2] ? `${m[1]}e${UNIT[m[2]]}` : m[1]);
}

const NUM = String.raw`[+-]?\d+(?:\.\d+)?(?:\s*[kKMGT])?`;
const PCT = String.raw`\(\s*(-?\d+(?:\.\d+)?|-?[nN][aA][nN])\s*\)`;
const STAT_LINE = new RegExp(
  String.raw`^(\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d(?:\.\d{1,3})?)\s+(\d+(?:\.\d+)?|(?:\d+d\s*)?\d+:[0-5]\d:[0-5]\d(?:\.\d{1,3})?)\s+\S+\s+(\S+)` +
    String.raw`\s+(${NUM})\s*(?:${PCT})?\s+(${NUM})\s*(?:${PCT})?\s+(${NUM})\s*(?:${PCT})?\s+(${NUM})\s+(${NUM})\s+(${NUM})$`,
  'u',
);

function duration(text: string): number {
  const m = /^(?:(\d+)d\s*)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,3}))?$/u.exec(text);
  if (!m) return Number(text);
  return ((((Number(m[1] ?? 0) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4])) * 1000 + Number((m[5] ?? '0').padEnd(3, '0'))) / 1000;
}

/** One data line of nfdump statistics text: its features, or why it is bad. */
function statTextLine(line: string): { key: string; firstSeen: number; features: number[] } | string {
  let body = line;
  const hash = line.indexOf('#');
  if (hash >= 0) {
    const note = line.slice(hash + 1).trim();
    if (note.length > 500 || /[\u0000-\u0008\u000a-\u001f\u007f\ufffd]/u.test(note)) return 'bad note';
    body = line.slice(0, hash);
  }
  const m = STAT_LINE.exec(body.trim());
  if (!m) return 'not a statistics line';
  const firstSeen = nfdumpTime(`${m[1]} ${m[2]}`);
  if (firstSeen === undefined) return 'bad time';
  const d = firstSeen === 0 ? 0 : duration(m[3]!);
  if (!(d >= 0 && d <= TEN_YEARS_S)) return 'bad duration';
  if (!/^[\x21-\x7e]{1,128}$/u.test(m[4]!)) return 'bad key';
  const counts = [m[5], m[7], m[9]].map((t) => human(t!));
  const pcts = [m[6], m[8], m[10]].filter((p) => p !== undefined && !/nan/iu.test(p)).map(Number);
  const rates = [m[11], m[12], m[13]].map((t) => human(t!));
  if (counts.some((v) => !Number.isSafeInteger(v) || v < 0)) return 'bad count';
  if ([...pcts, ...rates].some((v) => !(v >= 0 && v <= MAX_SAFE))) return 'bad rate';
  return { key: m[4]!, firstSeen, features: [d, counts[0]!, counts[1]!, counts[2]!, rates[0]!, rates[1]!, rates[2]!] };
}

/** A label file of nfdump statistics text: rows by line; lines that are neither data nor comments
 *  are left to the reader (nfdump's headings are skipped, anything else refused). */
function statTextFile(text: string, file: string): Verdict<StatRow> {
  const lines = text.split('\n');
  const rows: StatRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!/^\d{4}-\d{2}-\d{2}[ T]\d/u.test(line)) continue;
    // nfdump ends every line with a newline: a data line without one was cut short.
    if (i === lines.length - 1) return bad('data line cut short', file, i + 1);
    const r = statTextLine(line);
    if (typeof r === 'string') return bad(r, file, i + 1);
    rows.push({ line: i + 1, ...r });
  }
  if (rows.length === 0) return bad('no rows', file);
  return { ok: true, rows };
}

const norm = (h: string) => h.trim().toLowerCase().replace(/[\s_()-]/gu, '');

/** A label file of nfdump statistics CSV (header ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp). */
function statCsvFile(text: string, file: string): Verdict<StatRow> {
  const lines = text.split('\n');
  let header: string[] | undefined;
  const rows: StatRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || /^no match(?:ing|ed) flows$/iu.test(line)) continue;
    if (/^summary\b/iu.test(line)) break;
    const names = line.split(',').map(norm);
    const isHeader = names.includes('val') && names.includes('fl') && names.includes('td');
    if (!header) {
      if (!isHeader) return bad('no header', file, i + 1);
      header = line.split(',');
      const names = header.map(norm);
      if (['td', 'val', 'fl', 'pkt', 'byt', 'pps', 'bps', 'bpp'].some((n) => !names.includes(n))) return bad('header lacks a column', file, i + 1);
      continue;
    }
    if (isHeader || /^top\s+\d+\s/iu.test(line)) continue;
    if (i === lines.length - 1) return bad('data line cut short', file, i + 1);
    const at = (n: string) => header!.map(norm).indexOf(n);
    const cells = line.split(',');
    if (cells.length !== header.length) return bad('field count', file, i + 1);
    const cell = (n: string) => cells[at(n)]!.trim();
    const time = (n: string): number | null | undefined => {
      if (at(n) < 0) return null;
      const t = cell(n);
      if (/^\d{10,}$/u.test(t) || /^0+$/u.test(t)) {
        const ms = Number(t) * (t.length <= 10 ? 1000 : 1);
        return ms <= 8.64e15 ? ms : undefined;
      }
      return nfdumpTime(t);
    };
    const ts = time('ts');
    const te = time('te');
    if (ts === undefined || te === undefined) return bad('bad time', file, i + 1);
    const num = (n: string) => decimal(cell(n));
    const d = ts === 0 ? 0 : num('td');
    if (d === undefined || !(d >= 0 && d <= TEN_YEARS_S)) return bad('bad duration', file, i + 1);
    const counts = ['fl', 'pkt', 'byt'].map(num);
    if (counts.some((v) => v === undefined || !Number.isSafeInteger(v) || v < 0)) return bad('bad count', file, i + 1);
    const rates = ['pps', 'bps', 'bpp', ...['flp', 'pktp', 'bytp'].filter((n) => at(n) >= 0)].map(num);
    if (rates.some((v) => v === undefined || !(v >= 0 && v <= MAX_SAFE))) return bad('bad rate', file, i + 1);
    if (!/^[\x20-\x7e]{1,128}$/u.test(cell('val'))) return bad('bad key', file, i + 1);
    if (ts !== null && te !== null && te < ts) return bad('te before ts', file, i + 1);
    rows.push({ line: i + 1, key: cell('val'), firstSeen: ts, features: [d, counts[0]!, counts[1]!, counts[2]!, rates[0]!, rates[1]!, rates[2]!] });
  }
  if (!header) return bad('no header', file);
  if (rows.length === 0) return bad('no rows', file);
  return { ok: true, rows };
}

interface FolderRow extends StatRow {
  file: string;
  label: string;
}

/** A labels folder: label = file name less its extension; class order from classes.txt or sorted. */
function folderOracle(dir: string, formats: Map<string, 'text' | 'csv'>): Verdict<FolderRow> & { classes?: string[] } {
  const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => !/^(classes\.txt|readme(\..*)?|\..*)$/iu.test(e.name));
  const byLabel = new Map<string, string>();
  for (const e of entries) {
    if (!e.isFile()) return bad('not a file', join(dir, e.name));
    const label = basename(e.name, extname(e.name));
    if (!LABEL_NAME.test(label) || byLabel.has(label)) return bad('bad or repeated label', join(dir, e.name));
    byLabel.set(label, e.name);
  }
  if (byLabel.size === 0) return bad('no label files', dir);
  let classes = [...byLabel.keys()].sort();
  let listed: string | undefined;
  try {
    listed = readFileSync(join(dir, 'classes.txt'), 'utf8');
  } catch {
    listed = undefined;
  }
  if (listed !== undefined) {
    const order: string[] = [];
    const lines = listed.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const name = lines[i]!.trim();
      if (name === '' || name.startsWith('#')) continue;
      if (order.includes(name) || !byLabel.has(name)) return bad('classes.txt lists an unknown or repeated class', join(dir, 'classes.txt'), i + 1);
      order.push(name);
    }
    if (order.length !== byLabel.size) return bad('classes.txt misses a class', join(dir, 'classes.txt'));
    classes = order;
  }
  const rows: FolderRow[] = [];
  for (const label of classes) {
    const file = join(dir, byLabel.get(label)!);
    const text = readFileSync(file).toString('utf8');
    const v = formats.get(byLabel.get(label)!) === 'csv' ? statCsvFile(text, file) : statTextFile(text, file);
    if (!v.ok) return v;
    rows.push(...v.rows.map((r) => ({ ...r, file, label })));
  }
  return { ok: true, rows, classes };
}

interface TableRow {
  line: number;
  label: string;
  features: number[];
}

/** A labelled table as CSV: a header naming label and the feature columns (any order, other
 *  columns ignored), then one row per line with as many fields as the header. */
function tableOracle(text: string, file: string): Verdict<TableRow> & { classes?: string[] } {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const header = lines[0]!.split(',').map((h) => h.trim());
  const need = ['label', ...FEATURES];
  if (need.some((n) => header.indexOf(n) < 0 || header.indexOf(n) !== header.lastIndexOf(n))) return bad('header', file, 1);
  const rows: TableRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    const cells = lines[i]!.split(',');
    if (cells.length !== header.length) return bad('field count', file, i + 1);
    const label = cells[header.indexOf('label')]!.trim();
    if (!LABEL_NAME.test(label)) return bad('label', file, i + 1);
    const features = FEATURES.map((n) => decimal(cells[header.indexOf(n)]!));
    if (features.some((v) => v === undefined || v < 0)) return bad('number', file, i + 1);
    rows.push({ line: i + 1, label, features: features as number[] });
  }
  if (rows.length === 0) return bad('no rows', file);
  const classes = [...new Set(rows.map((r) => r.label))].sort();
  // Rows grouped by class (in class order), file order within a class.
  return { ok: true, rows: classes.flatMap((c) => rows.filter((r) => r.label === c)), classes };
}

interface DataRow {
  key: string;
  window: number;
  firstSeen: number;
  features: number[];
}

interface AddRow {
  line: number;
  key: string;
  windowStart: number;
  firstSeen: number | null;
  features: number[];
  label: string;
}

/** RFC 4180 records (quoted cells may hold commas, quotes and line breaks), with their first line. */
function rfc4180(text: string): { cells: string[]; line: number }[] | undefined {
  const out: { cells: string[]; line: number }[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let start = 1;
  let quoted = false;
  let closed = false;
  const end = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0]!.trim() === '')) out.push({ cells, line: start });
    cells = [];
    cell = '';
    closed = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
        closed = true;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      continue;
    }
    if (c === ',') {
      cells.push(cell);
      cell = '';
      closed = false;
    } else if (c === '\n') {
      if (!closed && cell.endsWith('\r')) cell = cell.slice(0, -1);
      end();
      line++;
      start = line;
    } else if (closed) {
      if (!(c === '\r' && text[i + 1] === '\n')) return undefined; // text after a closing quote
    } else if (c === '"' && cell === '') {
      quoted = true;
    } else {
      cell += c;
    }
  }
  if (quoted) return undefined;
  if (cell !== '' || cells.length > 0 || closed) {
    if (!closed && cell.endsWith('\r')) cell = cell.slice(0, -1);
    end();
  }
  return out;
}

/** A window start: YYYY-MM-DD hh:mm (UTC) or ISO 8601 with Z, an offset or no zone. */
function windowTime(text: string): number | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?(Z|[+-]\d\d:?\d\d)?$/u.exec(text);
  if (!m) return undefined;
  const t = validUtc([m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number), Number((m[7] ?? '0').padEnd(3, '0')));
  if (t === undefined || m[8] === undefined || m[8] === 'Z') return t;
  const oh = Number(m[8].slice(1, 3));
  const om = Number(m[8].slice(-2));
  if (oh > 23 || om > 59) return undefined;
  return t - (m[8][0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
}

/** label add --csv: key,window,label lines, each naming one row of the data. */
function labelAddOracle(text: string, file: string, data: DataRow[]): Verdict<AddRow> & { repeated?: number } {
  const records = rfc4180(text.replace(/^\uFEFF/u, ''))?.filter((r) => !r.cells[0]!.trimStart().startsWith('#'));
  if (!records) return bad('not CSV', file);
  if (records.length === 0) return bad('empty', file);
  const header = records[0]!.cells.map((h) => h.trim()).map((h) => (h === 'window_start' ? 'window' : h));
  if (header.length !== 3 || !['key', 'window', 'label'].every((n) => header.includes(n))) return bad('header', file, records[0]!.line);
  const rows: AddRow[] = [];
  let repeated = 0;
  const v6 = (a: string, b: string) => {
    const list = new BlockList();
    list.addAddress(b, 'ipv6');
    return list.check(a, 'ipv6');
  };
  for (const r of records.slice(1)) {
    if (r.cells.length !== 3) return bad('field count', file, r.line);
    const [key, w, label] = ['key', 'window', 'label'].map((n) => r.cells[header.indexOf(n)]!.trim()) as [string, string, string];
    const window = windowTime(w);
    if (isIP(key) === 0 || window === undefined || !LABEL_NAME.test(label)) return bad('key, window or label', file, r.line);
    const found = data.find((d) => d.window === window && (isIP(key) === 4 ? d.key === key : isIP(d.key) === 6 && v6(key, d.key)));
    if (!found) return bad('no such row', file, r.line);
    const prior = rows.find((p) => p.key === found.key && p.windowStart === window);
    if (prior && prior.label !== label) return bad('conflicting labels', file, r.line);
    if (prior) repeated++;
    else rows.push({ line: r.line, key: found.key, windowStart: window, firstSeen: found.firstSeen, features: found.features, label });
  }
  if (rows.length === 0) return bad('no rows', file);
  return { ok: true, rows, repeated };
}

/** The columns a predictions file may have besides the features and p_<class> (labels.ts). */
const PREDICTION_COLUMNS = ['key', 'window_start', 'first_seen', 'last_seen', 'source_file', 'source_line', 'note', 'router', 'src_addr', 'dst_addr', 'proto', 'src_port', 'dst_port', 'predicted', 'probability', 'novelty', 'novel', 'voted', 'neighbour_labels', 'neighbour_distances', 'neighbour_rows', 'label'];

/** A key as flowknn writes it: an address (masked as nfdump prints it, too), a port, or such
 *  parts joined with | (with names such as tcp or a router's folder in a compound key). */
function plainKey(key: string): boolean {
  const parts = key.split('|');
  return parts.every((p) => isIP(p) !== 0 || /^(?=.*x)[0-9a-fx.:]+$/iu.test(p) || /^\d{1,5}$/u.test(p) || (parts.length > 1 && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u.test(p)));
}

/** label add --predictions FILE.csv: the rows whose label column is filled in, as they stand. */
function predictionsOracle(text: string, file: string): Verdict<AddRow> & { repeated?: number; unlabelled?: number } {
  const records = rfc4180(text.replace(/^\uFEFF/u, ''))?.filter((r) => !r.cells[0]!.trimStart().startsWith('#'));
  if (!records) return bad('not CSV', file);
  if (records.length === 0) return bad('empty', file);
  const header = records[0]!.cells.map((h) => h.trim());
  const known = (h: string) => PREDICTION_COLUMNS.includes(h) || (FEATURES as readonly string[]).includes(h) || /^p_[A-Za-z0-9][A-Za-z0-9_.-]*$/u.test(h);
  if (!header.every(known) || !['key', 'label', ...FEATURES].every((n) => header.includes(n))) return bad('header', file, records[0]!.line);
  const rows: AddRow[] = [];
  let repeated = 0;
  let unlabelled = 0;
  const at = (n: string) => header.indexOf(n);
  for (const r of records.slice(1)) {
    if (r.cells.length !== header.length) return bad('field count', file, r.line);
    const label = r.cells[at('label')]!.trim();
    if (label === '') {
      unlabelled++;
      continue;
    }
    const key = r.cells[at('key')]!.trim();
    const time = (n: string): number | null | undefined => (at(n) < 0 || r.cells[at(n)]!.trim() === '' ? null : windowTime(r.cells[at(n)]!.trim()));
    const windowStart = time('window_start');
    const firstSeen = time('first_seen');
    const features = FEATURES.map((n) => decimal(r.cells[at(n)]!));
    if (!plainKey(key) || windowStart === undefined || firstSeen === undefined || features.some((v) => v === undefined || v < 0) || !LABEL_NAME.test(label)) return bad('key, time, feature or label', file, r.line);
    const row: AddRow = { line: r.line, key, windowStart: windowStart as number, firstSeen, features: features as number[], label };
    // One row, one label: a row is its key and window, or (masked key, no window) all of it.
    const masked = key.split('|').some((p) => /^(?=.*x)[0-9a-fx.:]+$/iu.test(p));
    const sameRow = (p: AddRow) => p.key === key && p.windowStart === row.windowStart && (windowStart !== null && !masked ? true : p.firstSeen === firstSeen && same(p.features, row.features));
    const prior = rows.find(sameRow);
    if (prior && prior.label !== label) return bad('conflicting labels', file, r.line);
    if (prior) repeated++;
    else rows.push(row);
  }
  if (rows.length === 0) return bad('no labelled rows', file);
  return { ok: true, rows, repeated, unlabelled };
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, j) => v === b[j]);

// ---------------------------------------------------------------------------------------------
// Valid inputs and their mutations.

/**
 * The way case `n` gives labels. label add --csv reads its --data table through readArrowFile,
 * which checks an Arrow file it did not write in a thread of its own (a few hundred ms); the
 * folder, table and predictions cases take under 10 ms. One case in LABEL_ADD_EVERY is a label
 * add --csv case, so the default run stays within about 20 s.
 */
const LABEL_ADD_EVERY = 36;
function wayOf(n: number): Way {
  const only = process.env.FLOWKNN_FUZZ_WAY as Way | undefined;
  if (only !== undefined && WAYS.includes(only)) return only;
  if (n % LABEL_ADD_EVERY === LABEL_ADD_EVERY - 1) return 'label-add';
  return (['folder', 'table', 'predictions'] as const)[n % 3]!;
}

const ODD_NUMBERS = ['-1', '-0', '0', 'Infinity', '-Infinity', 'NaN', '1e30', '1e309', '1e-400', '0x1F', '0b11', '1_0', '', ' ', '+5', '.5', '5.', '00012', '1.5e3', '9007199254740993', '18446744073709551616', '1.3 M', '7 X', '-2.5 k'];
const ODD_LABELS = ['a/b', '../up', 'x.y', 'x..y', '.hidden', 'with space', 'ünï', 'é', '名前', '', '.', '-lead', '_lead', 'a\\b', 'a\tb', 'x'.repeat(64), 'y'.repeat(65), 'CON', 'nul', 'HTTP', 'http', 'a:b', 'p_x', '"q"', 'a;b', '\u202eevil', 'a\u0000b'];
const CONTROL = ['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u007f', '\u0085', '\u00a0', '\u2028', '\u202e', '\t', '\r', '\ufeff', '\ufffd'];

interface Case {
  way: Way;
  dir: string;
  /** The path given to the loader. */
  path: string;
  /** Folder: each label file's format, by file name. */
  formats: Map<string, 'text' | 'csv'>;
}

function mutate(text: string, rng: () => number, labels: readonly string[]): Buffer {
  const int = (k: number) => Math.floor(rng() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const positions = (re: RegExp) => [...text.matchAll(re)].map((m) => m.index!);
  let t = text;
  const byteOps: ((b: Buffer) => Buffer)[] = [];
  const ops: (() => void)[] = [
    // bytes flipped
    () =>
      byteOps.push((b) => {
        const c = Buffer.from(b);
        for (let j = 0, m = 1 + int(4); j < m && c.length > 0; j++) c[int(c.length)] = int(256);
        return c;
      }),
    // cut at a random byte (a multi-byte character may be cut too)
    () => byteOps.push((b) => b.subarray(0, int(b.length + 1))),
    // cut at a boundary: a line end, after a newline, inside a number, after a separator, the last newline
    () => {
      const kind = int(5);
      const at = (re: RegExp) => pick(positions(re).length > 0 ? positions(re) : [t.length]);
      if (kind === 0) t = t.slice(0, at(/\n/gu));
      else if (kind === 1) t = t.slice(0, at(/\n/gu) + 1);
      else if (kind === 2) {
        const nums = [...t.matchAll(/\d{2,}/gu)];
        if (nums.length > 0) {
          const m = pick(nums);
          t = t.slice(0, m.index! + 1 + int(m[0].length - 1));
        }
      } else if (kind === 3) t = t.slice(0, at(/[,\s]/gu) + 1);
      else t = t.replace(/\n$/u, '');
    },
    // a separator doubled or removed
    () => {
      const ps = positions(/[, ]/gu);
      if (ps.length === 0) return;
      const p = pick(ps);
      t = rng() < 0.5 ? t.slice(0, p) + t[p] + t.slice(p) : t.slice(0, p) + t.slice(p + 1);
    },
    // a huge field
    () => {
      const p = int(t.length + 1);
      t = t.slice(0, p) + pick(['x'.repeat(70_000), '9'.repeat(400), '1'.repeat(30) + '.' + '5'.repeat(40), ','.repeat(5000), ' '.repeat(50_000)]) + t.slice(p);
    },
    // a control byte or other odd character
    () => {
      const p = int(t.length + 1);
      t = t.slice(0, p) + pick(CONTROL) + t.slice(p);
    },
    // a byte order mark at the start
    () => (t = `\ufeff${t}`),
    // CRLF line ends, or a lone CR
    () => {
      if (rng() < 0.7) t = t.replace(/\n/gu, '\r\n');
      else {
        const p = int(t.length + 1);
        t = `${t.slice(0, p)}\r${t.slice(p)}`;
      }
    },
    // an odd number in place of one
    () => {
      const nums = [...t.matchAll(/\d+(?:\.\d+)?/gu)];
      if (nums.length === 0) return;
      const m = pick(nums);
      t = t.slice(0, m.index!) + pick(ODD_NUMBERS) + t.slice(m.index! + m[0].length);
    },
    // an odd label in place of one
    () => {
      const present = labels.filter((l) => t.includes(l));
      if (present.length === 0) return;
      const l = pick(present);
      const ps = positions(new RegExp(l.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&'), 'gu'));
      const p = pick(ps);
      t = t.slice(0, p) + pick(ODD_LABELS) + t.slice(p + l.length);
    },
    // lines dropped, repeated or swapped
    () => {
      const lines = t.split('\n');
      const a = int(lines.length);
      const b = int(lines.length);
      const k = int(3);
      if (k === 0) lines.splice(a, 1);
      else if (k === 1) lines.splice(a, 0, lines[b]!);
      else [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      t = lines.join('\n');
    },
    // invalid UTF-8
    () =>
      byteOps.push((b) => {
        const p = int(b.length + 1);
        return Buffer.concat([b.subarray(0, p), Buffer.from(pick([[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf]])), b.subarray(p)]);
      }),
    // nothing left
    () => {
      if (rng() < 0.3) t = '';
    },
  ];
  for (let k = 1 + int(3); k > 0; k--) pick(ops)();
  let bytes: Buffer = Buffer.from(t, 'utf8');
  for (const op of byteOps) bytes = op(bytes);
  return bytes;
}

const SEED_DIR = join(ROOT, 'data/seed-2015/labels');

function seedLines(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of readdirSync(SEED_DIR).sort()) {
    if (!f.endsWith('.raw')) continue;
    out.set(basename(f, '.raw'), readFileSync(join(SEED_DIR, f), 'utf8').split('\n').filter((l) => /^\d{4}-/u.test(l)));
  }
  return out;
}

/** The same rows as nfdump statistics CSV. */
function asStatCsv(lines: string[]): string {
  const rows = lines.map((l) => {
    const r = statTextLine(l) as { firstSeen: number; features: number[] };
    const ts = l.slice(0, 23);
    const [d, fl, pkt, byt, pps, bps, bpp] = r.features;
    return `${ts},${ts},${d},any,XXX.XXX.XXX.XXX,${fl},0.0,${pkt},0.1,${byt},0.2,${pps},${bps},${bpp}`;
  });
  return `ts,te,td,pr,val,fl,flP,pkt,pktP,byt,bytP,pps,bps,bpp\n${rows.join('\n')}\n`;
}

function writeEntry(dir: string, name: string, bytes: Buffer | string): void {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

/** The input of case `n`, written under `dir`. */
function makeCase(seed: number, n: number, dir: string, seeds: Map<string, string[]>, data: DataRow[], mulberry32: (s: number) => () => number): Case {
  const rng = mulberry32((seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0);
  const int = (k: number) => Math.floor(rng() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const way = wayOf(n);
  const formats = new Map<string, 'text' | 'csv'>();
  if (way === 'folder') {
    const all = [...seeds.keys()];
    const classes = all.filter(() => rng() < 0.4).slice(0, 3);
    if (classes.length === 0) classes.push(pick(all));
    const files: { name: string; text: string }[] = [];
    for (const c of classes) {
      const src = seeds.get(c)!;
      const from = int(src.length);
      const lines = src.slice(from, from + 1 + int(5));
      if (rng() < 0.3) {
        files.push({ name: `${c}.csv`, text: asStatCsv(lines) });
        formats.set(`${c}.csv`, 'csv');
      } else {
        const head = rng() < 0.5 ? `# ${c}\n# Date first seen          Duration Proto       Dst IP Addr    Flows(%)     Packets(%)       Bytes(%)         pps      bps   bpp\n` : '';
        const name = `${c}${pick(['.raw', '.txt', ''])}`;
        files.push({ name, text: `${head}${lines.join('\n')}\n` });
        formats.set(name, 'text');
      }
    }
    if (rng() < 0.4) files.push({ name: 'classes.txt', text: `${[...classes].sort(() => rng() - 0.5).join('\n')}\n` });
    // Mutate one file's bytes, or its name, or add an entry that is no label file.
    const target = pick(files);
    const what = int(10);
    if (what < 7) {
      for (const f of files) writeEntry(dir, f.name, f === target ? mutate(f.text, rng, classes) : f.text);
    } else {
      for (const f of files) {
        if (f !== target || f.name === 'classes.txt') {
          writeEntry(dir, f.name, f.text);
          continue;
        }
        const odd = pick(ODD_LABELS).replace(/\u0000/gu, '');
        const name = pick([`${odd}${extname(f.name)}`, `${basename(f.name, extname(f.name))}.${odd}`, `${odd}`, `${f.name}.bak`, `${basename(f.name, extname(f.name))}.v2${extname(f.name)}`]);
        if (name === '' || name.split('/').some((p) => p === '' || p === '.' || p === '..')) {
          writeEntry(dir, f.name, f.text);
          continue;
        }
        writeEntry(dir, name, f.text);
        formats.set(basename(name), formats.get(f.name)!);
      }
      if (what === 9) {
        const junk = pick(['sub/inner.raw', 'empty.raw', '.DS_Store', 'README.md', 'notes.txt']);
        writeEntry(dir, junk, junk === 'notes.txt' ? 'just words\n' : '');
        formats.set(basename(junk), 'text');
      }
    }
    return { way, dir, path: dir, formats };
  }
  if (way === 'table') {
    const labels = ['web', 'mail', 'dns', 'nfs', 'smtp-2', 'x.y'];
    const cols: string[] = ['label', ...FEATURES];
    if (rng() < 0.3) cols.sort(() => rng() - 0.5);
    if (rng() < 0.2) cols.splice(int(cols.length + 1), 0, 'note');
    const value = () => pick([() => String(int(100_000)), () => (rng() * 1e6).toFixed(int(4)), () => '0', () => String(rng() * 1e9)])();
    const lines = Array.from({ length: 1 + int(8) }, () => cols.map((c) => (c === 'label' ? pick(labels) : c === 'note' ? pick(['ok', 'seen twice', '']) : value())).join(','));
    const path = join(dir, pick(['labelled.csv', 'labelled.CSV', 'table.txt']));
    writeFileSync(path, mutate(`${cols.join(',')}\n${lines.join('\n')}\n`, rng, labels));
    return { way, dir, path, formats };
  }
  if (way === 'predictions') {
    const labels = ['http', 'nfs', 'scan', 'ok-2'];
    const cols = ['key', 'window_start', 'first_seen', ...FEATURES, 'predicted', 'probability', 'p_http', 'p_nfs', 'label'].filter((c) => !['window_start', 'first_seen', 'probability', 'p_http', 'p_nfs'].includes(c) || rng() < 0.7);
    if (rng() < 0.3) cols.sort(() => rng() - 0.5);
    const hosts = ['10.0.0.1', '10.0.0.2', '2001:db8::1', 'XXX.XXX.XXX.XXX', '192.168.1.31|17'];
    const lines: string[] = [];
    for (let i = 1 + int(6); i > 0; i--) {
      const w = Date.UTC(2026, 10, 1, 0, 5 * int(3));
      const cells: Record<string, string> = {
        key: pick(hosts),
        window_start: new Date(w).toISOString(),
        first_seen: rng() < 0.3 ? '' : new Date(w + int(300_000)).toISOString(),
        predicted: pick(labels),
        probability: '0.8',
        p_http: '0.8',
        p_nfs: '0.2',
        label: rng() < 0.2 ? '' : pick(labels),
        ...Object.fromEntries(FEATURES.map((f) => [f, pick([String(int(100_000)), (rng() * 1e6).toFixed(int(4)), '0'])])),
      };
      const line = cols.map((c) => cells[c]!).join(',');
      lines.push(line);
      if (rng() < 0.15) lines.push(line);
    }
    const path = join(dir, 'predictions.csv');
    writeFileSync(path, mutate(`${cols.join(',')}\n${lines.join('\n')}\n`, rng, labels));
    return { way, dir, path, formats };
  }
  const labels = ['http', 'nfs', 'scan', 'ok-2'];
  const cols = rng() < 0.3 ? ['label', 'key', 'window'] : ['key', rng() < 0.5 ? 'window' : 'window_start', 'label'];
  const windowText = (t: number) => {
    const iso = new Date(t).toISOString();
    return pick([`${iso.slice(0, 10)} ${iso.slice(11, 16)}`, iso, `${iso.slice(0, 19)}Z`, new Date(t + 3_600_000).toISOString().slice(0, 16) + '+01:00', `${iso.slice(0, 16)}`]);
  };
  const lines: string[] = [];
  for (let i = 1 + int(6); i > 0; i--) {
    const d = pick(data);
    const key = d.key === '2001:db8::1' && rng() < 0.5 ? '2001:DB8:0:0::0001' : d.key;
    const cells: Record<string, string> = { key, window: windowText(d.window), window_start: windowText(d.window), label: pick(labels) };
    let line = cols.map((c) => cells[c]!).join(',');
    if (rng() < 0.1) line = cols.map((c) => `"${cells[c]!}"`).join(',');
    lines.push(line);
    if (rng() < 0.15) lines.push(line); // a repeated line, merged
    if (rng() < 0.1) lines.push('# checked by hand');
  }
  const path = join(dir, 'labels.csv');
  writeFileSync(path, mutate(`${cols.join(',')}\n${lines.join('\n')}\n`, rng, labels));
  return { way, dir, path, formats };
}

// ---------------------------------------------------------------------------------------------
// The worker: runs the cases, compares with the oracle.

async function runWorker(data: FuzzData): Promise<void> {
  const { FlowknnError } = await import('../../src/errors.js');
  const { NFDUMP_STAT7 } = await import('../../src/features/feature-set.js');
  const { loadLabelled } = await import('../../src/model/labelled.js');
  const { labelsFromCsv, labelsFromPredictions } = await import('../../src/model/labels.js');
  const { nightlyAggregateTable } = await import('../../src/pipeline/inputs.js');
  const { mulberry32 } = await import('../../src/random.js');
  const { tableToIPC } = await import('apache-arrow');
  const progress = new Int32Array(data.progress);
  const base = mkdtempSync(join(tmpdir(), 'flowknn-labels-fuzz-'));
  const failures: Failure[] = [];
  const counts: Counts = { cases: 0, accepted: 0, rejected: 0, crashes: 0, hangs: 0, silentWrongRows: 0, errorsWithoutPlace: 0, refusedValid: 0 };
  const byWay = Object.fromEntries(WAYS.map((w) => [w, { accepted: 0, rejected: 0 }])) as Done['byWay'];
  let slowestMs = 0;

  // The --data table: five hosts (one IPv6) in three five-minute windows.
  const W0 = Date.UTC(2026, 10, 1, 0, 0);
  const keys = ['10.0.0.1', '10.0.0.2', '192.168.1.31', '2001:db8::1', '203.0.113.17'];
  const aggRows = keys.flatMap((key, k) =>
    [0, 1, 2].map((w) => {
      const windowStart = W0 + w * 300_000;
      const durationMs = 1000 * (k + 1) + 7 * w;
      const packets = 100 * (k + 1) + w;
      const bytes = 1500 * packets - k;
      return { windowStart, key, values: [key], firstSeen: windowStart + 1000 * k, lastSeen: windowStart + 1000 * k + durationMs, durationMs, flows: k + w + 1, packets, bytes, pps: packets / (durationMs / 1000), bps: (8 * bytes) / (durationMs / 1000), bpp: bytes / packets };
    }),
  );
  const dataPath = join(base, 'aggregates.arrow');
  const dataTable = nightlyAggregateTable(aggRows, ['dstip'], aggRows.map(() => 'nfcapd.202611010000'), { 'flowknn.window_s': '300' });
  writeFileSync(dataPath, tableToIPC(dataTable, 'file'));
  // The data rows as the oracle reads them: straight from the Arrow columns.
  const dataRows: DataRow[] = Array.from({ length: dataTable.numRows }, (_, i) => ({
    key: String(dataTable.getChild('key')!.get(i)),
    window: Number(dataTable.getChild('window_start')!.get(i)),
    firstSeen: Number(dataTable.getChild('first_seen')!.get(i)),
    features: FEATURES.map((c) => Number(dataTable.getChild(c)!.get(i))),
  }));
  const seeds = seedLines();

  const t0 = performance.now();
  // The case folders go with the worker even when the oracle itself throws (a failure shown by the test).
  try {
    for (let n = data.first; n < data.first + data.cases; n++) {
      Atomics.store(progress, 0, n);
      const dir = join(base, `case-${n}`);
      mkdirSync(dir);
      const c = makeCase(data.seed, n, dir, seeds, dataRows, mulberry32);
      const input = () => {
        const files: string[] = [];
        const walk = (d: string) => {
          for (const e of readdirSync(d, { withFileTypes: true })) {
            const p = join(d, e.name);
            if (e.isDirectory()) walk(p);
            else files.push(`${p.slice(dir.length + 1)}: ${JSON.stringify(readFileSync(p).toString('utf8').slice(0, 300))}`);
          }
        };
        walk(dir);
        return files.join('\n  ');
      };
      const fail = (kind: Failure['kind'], what: string) => failures.push({ case: n, way: c.way, kind, what, input: input() });
      counts.cases++;
      // The oracle reads the bytes first: what it says cannot depend on what the loader did.
      const verdict: Verdict<unknown> =
        c.way === 'folder'
          ? folderOracle(dir, c.formats)
          : c.way === 'table'
            ? tableOracle(readFileSync(c.path).toString('utf8'), c.path)
            : c.way === 'predictions'
              ? predictionsOracle(readFileSync(c.path).toString('utf8'), c.path)
              : labelAddOracle(readFileSync(c.path).toString('utf8'), c.path, dataRows);
      const s = performance.now();
      try {
        if (c.way === 'folder') {
          const set = await loadLabelled(c.path, NFDUMP_STAT7);
          const v = verdict as ReturnType<typeof folderOracle>;
          if (!v.ok) fail('silent wrong row', `accepted an input the oracle refuses (${v.why}${v.file ? ` in ${v.file.slice(dir.length + 1)}` : ''}${v.line ? `:${v.line}` : ''})`);
          else if (JSON.stringify(set.classes) !== JSON.stringify(v.classes)) fail('silent wrong row', `classes ${JSON.stringify(set.classes)}, expected ${JSON.stringify(v.classes)}`);
          else if (set.features.rows !== v.rows.length) fail('silent wrong row', `${set.features.rows} rows, expected ${v.rows.length}`);
          else {
            for (let i = 0; i < v.rows.length; i++) {
              const e = v.rows[i]!;
              const got = { file: set.sourceFile[i], line: set.sourceLine[i], label: set.classes[set.labels[i]!], features: Array.from(set.features.row(i)), firstSeen: set.firstSeen?.[i] ?? null, key: set.keys[i] };
              if (got.file !== e.file || got.line !== e.line || got.label !== e.label || !same(got.features, e.features) || got.firstSeen !== e.firstSeen || got.key !== e.key) {
                fail('silent wrong row', `row ${i + 1}: ${JSON.stringify(got)}, expected ${JSON.stringify(e)}`);
                break;
              }
            }
          }
        } else if (c.way === 'table') {
          const set = await loadLabelled(c.path, NFDUMP_STAT7);
          const v = verdict as ReturnType<typeof tableOracle>;
          if (!v.ok) fail('silent wrong row', `accepted an input the oracle refuses (${v.why}${v.line ? ` at line ${v.line}` : ''})`);
          else if (JSON.stringify(set.classes) !== JSON.stringify(v.classes) || set.features.rows !== v.rows.length) fail('silent wrong row', `classes ${JSON.stringify(set.classes)} with ${set.features.rows} rows, expected ${JSON.stringify(v.classes)} with ${v.rows.length}`);
          else {
            for (let i = 0; i < v.rows.length; i++) {
              const e = v.rows[i]!;
              const got = { line: set.sourceLine[i], label: set.classes[set.labels[i]!], features: Array.from(set.features.row(i)) };
              if (got.line !== e.line || got.label !== e.label || !same(got.features, e.features)) {
                fail('silent wrong row', `row ${i + 1}: ${JSON.stringify(got)}, expected ${JSON.stringify(e)}`);
                break;
              }
            }
          }
        } else {
          const batch = c.way === 'predictions' ? await labelsFromPredictions(c.path, NFDUMP_STAT7) : await labelsFromCsv(c.path, [dataPath], NFDUMP_STAT7);
          const v = verdict as ReturnType<typeof predictionsOracle>;
          if (!v.ok) fail('silent wrong row', `accepted an input the oracle refuses (${v.why}${v.line ? ` at line ${v.line}` : ''})`);
          else if (c.way === 'predictions' && batch.unlabelled !== v.unlabelled) fail('silent wrong row', `${batch.unlabelled} rows without a label, expected ${v.unlabelled}`);
          else if (batch.rows.length !== v.rows.length || batch.repeated !== v.repeated) fail('silent wrong row', `${batch.rows.length} rows (${batch.repeated} repeated), expected ${v.rows.length} (${v.repeated})`);
          else {
            for (let i = 0; i < v.rows.length; i++) {
              const e = v.rows[i]!;
              const r = batch.rows[i]!;
              const got = { line: r.sourceLine, key: r.key, windowStart: r.windowStart, firstSeen: r.firstSeen, features: [...r.features], label: r.label };
              if (r.sourceFile !== c.path || JSON.stringify(got) !== JSON.stringify(e)) {
                fail('silent wrong row', `row ${i + 1}: ${JSON.stringify(got)}, expected ${JSON.stringify(e)}`);
                break;
              }
            }
          }
        }
        counts.accepted++;
        byWay[c.way].accepted++;
      } catch (err) {
        if (!(err instanceof FlowknnError)) {
          const e = err as Error;
          fail('crash', `${e?.name}: ${e?.message}\n${e?.stack?.split('\n').slice(1, 5).join('\n')}`);
        } else {
          counts.rejected++;
          byWay[c.way].rejected++;
          if (verdict.ok) counts.refusedValid++;
          const where = err.file ?? err.message;
          const lines = (f: string) => (statSync(f, { throwIfNoEntry: false })?.isFile() ? readFileSync(f).toString('utf8').split('\n').length : 0);
          if (err.kind !== 'input' && err.kind !== 'usage') fail('error without file or line', `kind ${err.kind}: ${err.format()}`);
          else if (!where.includes(dir) && !where.includes(dataPath)) fail('error without file or line', `names no file of the case: ${err.format()}`);
          else if (err.line !== undefined && (err.file === undefined || err.line < 1 || err.line > lines(err.file))) fail('error without file or line', `line ${err.line} is not a line of ${err.file}: ${err.format()}`);
          // A NUL byte makes a file binary data to the format sniffer, which has no lines to name.
          else if (!verdict.ok && verdict.line !== undefined && verdict.file === err.file && err.line === undefined && !readFileSync(err.file!).includes(0)) fail('error without file or line', `no line (the oracle finds ${verdict.why} at line ${verdict.line}): ${err.format()}`);
        }
      }
      const ms = performance.now() - s;
      slowestMs = Math.max(slowestMs, ms);
      if (ms > CASE_MS) fail('hang', `took ${ms.toFixed(0)} ms`);
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  for (const f of failures) {
    if (f.kind === 'crash') counts.crashes++;
    else if (f.kind === 'hang') counts.hangs++;
    else if (f.kind === 'silent wrong row') counts.silentWrongRows++;
    else counts.errorsWithoutPlace++;
  }
  parentPort!.postMessage({ type: 'done', failures, counts, byWay, ms: performance.now() - t0, slowestMs } satisfies Done);
}

if (!isMainThread && (workerData as FuzzData | undefined)?.flowknnLabelsFuzz) {
  await runWorker(workerData as FuzzData);
} else {
  const { describe, expect, it } = await import('vitest');
  const { testSeed } = await import('../helpers/random.js');
  const { makeTempDir } = await import('../helpers/tmp.js');
  const { failure } = await import('../helpers/failure.js');
  const { NFDUMP_STAT7 } = await import('../../src/features/feature-set.js');
  const { loadLabelled } = await import('../../src/model/labelled.js');
  const { labelsFromPredictions } = await import('../../src/model/labels.js');

  /** This file in a worker thread, with tsx registered there first (sources are TypeScript). */
  function fuzzWorker(data: FuzzData): Worker {
    const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
    const api = new URL('./dist/esm/api/index.mjs', pathToFileURL(pkg)).href;
    const self = pathToFileURL(fileURLToPath(import.meta.url)).href;
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`;
    return new Worker(boot, { eval: true, workerData: data });
  }

  describe('fuzz: label inputs end in the oracle\'s rows or a FlowknnError naming the file', () => {
    const only = process.env.FLOWKNN_FUZZ_CASE;
    const cases = only !== undefined ? 1 : Number(process.env.FLOWKNN_FUZZ_CASES ?? 900);
    const first = only !== undefined ? Number(only) : 0;

    it(`${cases} seeded mutations of labels folders, labelled tables, label add --csv and --predictions files`, async () => {
      const seed = testSeed('labels-fuzz');
      const progress = new SharedArrayBuffer(4);
      const at = new Int32Array(progress);
      Atomics.store(at, 0, -1);
      const worker = fuzzWorker({ flowknnLabelsFuzz: true, seed, first, cases, progress });
      const done = await new Promise<Done>((resolve, reject) => {
        let last = -1;
        let since = performance.now();
        const timer = setInterval(() => {
          const now = Atomics.load(at, 0);
          if (now !== last) {
            last = now;
            since = performance.now();
          } else if (now >= 0 && performance.now() - since > HANG_MS) {
            clearInterval(timer);
            void worker.terminate();
            reject(new Error(`case ${now} (${wayOf(now)}) ran more than ${HANG_MS} ms: a hang. Replay: FLOWKNN_TEST_SEED=${seed} FLOWKNN_FUZZ_CASE=${now}`));
          }
        }, 200);
        worker.once('message', (m: Done) => {
          clearInterval(timer);
          resolve(m);
        });
        worker.once('error', (err) => {
          clearInterval(timer);
          reject(err);
        });
        worker.once('exit', (code) => {
          clearInterval(timer);
          reject(new Error(`fuzz worker exited (code ${code}) at case ${Atomics.load(at, 0)}`));
        });
      });
      await worker.terminate();
      const k = done.counts;
      const ways = WAYS.map((w) => `${w} ${done.byWay[w].accepted}/${done.byWay[w].rejected}`).join(', ');
      console.log(
        `[labels-fuzz] seed ${seed}: ${k.cases} cases in ${(done.ms / 1000).toFixed(1)} s (slowest ${done.slowestMs.toFixed(0)} ms): ${k.accepted} accepted, ${k.rejected} rejected (${k.refusedValid} of them valid to the oracle); ` +
          `crashes ${k.crashes}, hangs ${k.hangs}, silent wrong rows ${k.silentWrongRows}, errors without file or line ${k.errorsWithoutPlace} [accepted/rejected: ${ways}]`,
      );
      const report = done.failures
        .slice(0, 12)
        .map((f) => `case ${f.case} (${f.way}) ${f.kind}: ${f.what}\n  ${f.input}\n  replay: FLOWKNN_TEST_SEED=${seed} FLOWKNN_FUZZ_CASE=${f.case}`)
        .join('\n');
      expect(done.failures.length, `${done.failures.length} failures (seed ${seed}):\n${report}`).toBe(0);
      // The mutations leave valid inputs too: each way accepted some cases and refused others.
      // Checked for a way with 100 cases or more: label-add (25 of the default 900) accepts
      // about 1 in 10, so 25 cases refuse all with a chance of 7% (seed 1256704894 did);
      // at 100, 3 in 100,000 (FLOWKNN_FUZZ_WAY=label-add runs all 900 as that way).
      for (const w of WAYS) if (done.byWay[w].accepted + done.byWay[w].rejected >= 100) expect(Math.min(done.byWay[w].accepted, done.byWay[w].rejected), w).toBeGreaterThan(0);
    }, 120_000);
  });

  describe('defects the fuzzer found in the label readers, fixed', () => {
    const header = 'label,duration_s,flows,packets,bytes,pps,bps,bpp';
    const seedLine = '2015-02-26 14:01:11.476     2.904 any     XXX.XXX.XXX.XXX        1( 0.0)    35252( 0.0)   52.6 M( 0.0)    12139  144.8 M  1491\n';

    it('a labelled table row with a stray comma (bpp 1,491) is refused at its line (was read with bpp 1)', async () => {
      const { dir, cleanup } = await makeTempDir('flowknn-labels-fuzz-');
      try {
        const path = join(dir, 'labelled.csv');
        writeFileSync(path, `${header}\nweb,2.904,1,35252,52600000,12139,144800000,1,491\n`);
        const err = await failure(loadLabelled(path, NFDUMP_STAT7));
        expect([err.file, err.line]).toEqual([path, 2]);
        expect(err.message).toMatch(/expected 8 fields as the header names, got 9/u);
      } finally {
        await cleanup();
      }
    });

    it('a feature written 0x1F or 0b11 is refused (was read as 31 or 3), in a labelled table and a predictions file', async () => {
      const { dir, cleanup } = await makeTempDir('flowknn-labels-fuzz-');
      try {
        const table = join(dir, 'labelled.csv');
        writeFileSync(table, `${header}\nweb,0x1F,1,2,3,4,5,6\n`);
        expect((await failure(loadLabelled(table, NFDUMP_STAT7))).format()).toContain(`${table}:2: duration_s: expected a number, got "0x1F"`);
        const predictions = join(dir, 'predictions.csv');
        writeFileSync(predictions, `key,window_start,${FEATURES.join(',')},predicted,label\n10.0.0.1,2026-11-01T00:05:00.000Z,1,0b11,2,3,4,5,6,web,web\n`);
        const err = await failure(labelsFromPredictions(predictions, NFDUMP_STAT7));
        expect([err.file, err.line]).toEqual([predictions, 2]);
        expect(err.message).toMatch(/flows: expected a number >= 0, got "0b11"/u);
      } finally {
        await cleanup();
      }
    });

    it('a label file whose first line runs past 64 KiB is refused naming that line (was "binary data", or "empty input" after a blank line)', async () => {
      const { dir, cleanup } = await makeTempDir('flowknn-labels-fuzz-');
      try {
        mkdirSync(join(dir, 'labels'));
        writeFileSync(join(dir, 'labels', 'web.raw'), `${seedLine.slice(0, 60)}${'x'.repeat(70_000)}\n`);
        const e1 = await failure(loadLabelled(join(dir, 'labels'), NFDUMP_STAT7));
        expect([e1.file, e1.line]).toEqual([join(dir, 'labels', 'web.raw'), 1]);
        expect(e1.message).toMatch(/longer than 64 KiB/u);
        writeFileSync(join(dir, 'labels', 'web.raw'), `\n${seedLine.slice(0, 60)}${'x'.repeat(70_000)}\n`);
        const e2 = await failure(loadLabelled(join(dir, 'labels'), NFDUMP_STAT7));
        expect([e2.file, e2.line]).toEqual([join(dir, 'labels', 'web.raw'), 2]);
      } finally {
        await cleanup();
      }
    });

    it('label files HTTP.raw and http.raw are refused naming the labels folder (the message named no file)', async () => {
      const { dir, cleanup } = await makeTempDir('flowknn-labels-fuzz-');
      try {
        writeFileSync(join(dir, 'HTTP.raw'), seedLine);
        writeFileSync(join(dir, 'http.raw'), seedLine);
        const err = await failure(loadLabelled(dir, NFDUMP_STAT7));
        expect(err.exitCode).toBe(2);
        expect(err.format()).toContain(`${dir}: classes "HTTP" and "http" would share the probability column p_http`);
      } finally {
        await cleanup();
      }
    });
  });
}
