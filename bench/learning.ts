/**
 * The learning loop, measured: a model trained on the seed study's labels (another network,
 * 2015) meets a generated network, and an operator teaches it with `label suggest` and
 * `label add`. The generator's ground truth stands in for the operator: each suggested row
 * whose host and window belong to an injected event gets that event's class; a row of no event
 * (the acknowledgements a web, mail or NFS server sends back, background) gets `other`, what an
 * operator calls traffic of none of the classes (`--no-event skip` leaves it unlabelled).
 *
 * Day 1 (generator seed 1) is the day labelled; day 2 (seed 2, another day) is the day scored.
 * Round 0 is the seed model; round r adds the labels of r rounds of `--n` suggestions, each
 * drawn from day 1 classified by the model of the round before, then `train --registry` (the
 * promotion guard decides; its decision is printed). Day 2 is classified by every round's
 * model and scored against its ground truth, per class, by event: an event is right when its
 * host's rows in the windows it touches vote, weighted by packets, for its class; an event with
 * no row (below the night's minimum packets or outside its top 10) is wrong.
 *
 *   npm run bench:learning -- [--hours 4] [--n 30] [--rounds 3] [--cache DIR]
 *
 * The two days are generated once into the cache folder (default bench/.cache/learning).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';
import { main } from '../src/cli/main.js';
import { parseCsv } from '../src/io/csv.js';
import { readArrowFile, numberColumn, stringColumn } from '../src/schema/arrow.js';
import { generateArchive } from '../src/synth/generate.js';
import { readGroundTruth, type GroundTruthRow } from '../src/synth/ground-truth.js';
import { SYNTH_CLASSES } from '../src/synth/scenario.js';

const { values } = parseArgs({
  options: {
    hours: { type: 'string', default: '4' },
    n: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '3' },
    cache: { type: 'string', default: 'bench/.cache/learning' },
    'no-event': { type: 'string', default: 'other' },
  },
});
const hours = Number(values.hours);
const n = Number(values.n);
const rounds = Number(values.rounds);
const cache = resolve(values.cache);
const days = [
  { name: 'day1', date: '2026-11-01', seed: 1 },
  { name: 'day2', date: '2026-11-02', seed: 2 },
];
const WINDOW_MS = 300_000;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => new Writable({ write: (chunk: Buffer, _e, done) => (into.push(chunk.toString()), done()) });
  const code = await main(args, { stdout: sink(out), stderr: sink(err) });
  const r = { code, stdout: out.join(''), stderr: err.join('') };
  if (code !== 0) throw new Error(`flowknn ${args.join(' ')} exited ${code}:\n${r.stderr}`);
  return r;
}

// ---------------------------------------------------------------- the two days
const params = JSON.stringify({ hours, days });
const stamp = join(cache, 'params.json');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== params) {
  for (const d of days) {
    const t = performance.now();
    await generateArchive({ out: join(cache, d.name), date: d.date, hours, seed: d.seed, nfs: true, force: true });
    console.log(`generated ${d.name} (${d.date}, ${hours} h, seed ${d.seed}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  writeFileSync(stamp, params);
}
const truth = new Map<string, GroundTruthRow[]>();
for (const d of days) truth.set(d.name, await readGroundTruth(join(cache, d.name, 'ground-truth.csv')));

// ---------------------------------------------------------------- registry and nightly configs
const work = join(cache, 'run');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const registry = join(work, 'models');
const demo = JSON.parse(readFileSync('pipelines/demo.json', 'utf8')) as Record<string, Record<string, unknown>>;
const configFor = (d: (typeof days)[number]) => {
  const file = join(work, `${d.name}.json`);
  const { $comment: _c, ...rest } = demo;
  writeFileSync(
    file,
    JSON.stringify({ ...rest, archive: { root: join(cache, d.name, 'flows'), timeZone: 'UTC' }, output: { root: join(work, 'nightly', d.name) }, model: { registry, name: 'seed' }, classify: { ...demo.classify, engine: 'cpu' } }, null, 2),
  );
  return file;
};
const configs = new Map(days.map((d) => [d.name, configFor(d)]));
await cli(['train', '--labels', 'data/seed-2015/labels', '--exclude', 'nfs', '--scaler', 'log-zscore', '--k', '3', '--protocol', 'loo', '--registry', registry, '--name', 'seed', '--quiet']);

async function night(d: (typeof days)[number]): Promise<string> {
  await cli(['nightly', '--config', configs.get(d.name)!, '--date', d.date, '--force', '--quiet']);
  return join(work, 'nightly', d.name, d.date);
}

/** The class of the event that a host's window belongs to, or undefined (no event). */
function eventClass(events: readonly GroundTruthRow[], key: string, windowStart: number): string | undefined {
  const hit = events.find((e) => e.host === key && windowStart <= e.endMs && windowStart + WINDOW_MS > e.startMs);
  return hit?.class;
}

interface Score {
  perClass: Map<string, { right: number; total: number; seen: number }>;
  right: number;
  total: number;
  novelShare: number;
  rows: number;
}

async function score(dir: string, events: readonly GroundTruthRow[]): Promise<Score> {
  const t = await readArrowFile(join(dir, 'predictions.arrow'));
  const keys = stringColumn(t, 'key')!;
  const windows = numberColumn(t, 'window_start')!;
  const predicted = stringColumn(t, 'predicted')!;
  const packets = numberColumn(t, 'packets')!;
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { rows: number; novel: number };
  const perClass = new Map(SYNTH_CLASSES.map((c) => [c as string, { right: 0, total: 0, seen: 0 }]));
  let right = 0;
  for (const e of events) {
    const votes = new Map<string, number>();
    for (let i = 0; i < t.numRows; i++) {
      if (keys[i] !== e.host || !(windows[i]! <= e.endMs && windows[i]! + WINDOW_MS > e.startMs)) continue;
      votes.set(predicted[i]!, (votes.get(predicted[i]!) ?? 0) + packets[i]!);
    }
    const c = perClass.get(e.class)!;
    c.total++;
    if (votes.size > 0) c.seen++;
    const top = [...votes].sort((a, b) => b[1] - a[1])[0];
    if (top?.[0] === e.class) {
      c.right++;
      right++;
    }
  }
  return { perClass, right, total: events.length, novelShare: summary.rows === 0 ? 0 : summary.novel / summary.rows, rows: summary.rows };
}

// ---------------------------------------------------------------- the rounds
const [day1, day2] = days as [(typeof days)[number], (typeof days)[number]];
const results: { round: number; version: string; labels: number; score: Score; decision: string }[] = [];
let labelsSoFar = 0;
let decision = 'v1: trained on the seed labels without nfs';
const started = performance.now();
for (let round = 0; ; round++) {
  const current = readFileSync(join(registry, 'seed', 'current'), 'utf8').trim();
  const s = await score(await night(day2), truth.get('day2')!);
  results.push({ round, version: current, labels: labelsSoFar, score: s, decision });
  console.log(`round ${round} (${current}, ${labelsSoFar} labels): day 2 events right ${s.right}/${s.total} (${((100 * s.right) / s.total).toFixed(1)}%), novel ${(100 * s.novelShare).toFixed(1)}% of ${s.rows} rows`);
  if (round === rounds) break;

  // suggest on day 1 with the current model; the ground truth labels what it can
  const dir1 = await night(day1);
  const csvFile = join(work, `suggest-${round + 1}.csv`);
  await cli(['label', 'suggest', '--night', dir1, '--n', String(n), '--out', csvFile, '--quiet']);
  const records = parseCsv(readFileSync(csvFile, 'utf8'));
  const header = records[0]!.cells;
  const [li, ki, wi] = ['label', 'key', 'window_start'].map((c) => header.indexOf(c)) as [number, number, number];
  let labelled = 0;
  const lines = [header.join(',')];
  const got = new Map<string, number>();
  for (const r of records.slice(1)) {
    const cls = eventClass(truth.get('day1')!, r.cells[ki]!, Date.parse(r.cells[wi]!)) ?? (values['no-event'] === 'skip' ? undefined : values['no-event']);
    const cells = [...r.cells];
    if (cls !== undefined) {
      cells[li] = cls;
      labelled++;
      got.set(cls, (got.get(cls) ?? 0) + 1);
    } else got.set('(no event)', (got.get('(no event)') ?? 0) + 1);
    lines.push(cells.map((c) => (/[",\n]/u.test(c) ? `"${c.replace(/"/gu, '""')}"` : c)).join(','));
  }
  const labelledFile = join(work, `labelled-${round + 1}.csv`);
  writeFileSync(labelledFile, `${lines.join('\n')}\n`);
  console.log(`  suggested ${records.length - 1} rows of day 1: ${[...got].map(([c, k]) => `${c} ${k}`).join(', ')}`);
  labelsSoFar += labelled;
  await cli(['label', 'add', '--registry', registry, '--name', 'seed', '--predictions', labelledFile, '--quiet']);
  const trained = await cli(['train', '--registry', registry, '--name', 'seed', '--quiet']);
  decision = trained.stdout.split('\n')[0]!;
  console.log(`  ${decision}`);
}
const elapsed = (performance.now() - started) / 1000;

// ---------------------------------------------------------------- the table
const pct = (a: number, b: number) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(0)}%`);
const classes = SYNTH_CLASSES.filter((c) => results[0]!.score.perClass.get(c)!.total > 0);
const head = `| round | model | labels | ${classes.map((c) => `${c} (${results[0]!.score.perClass.get(c)!.total})`).join(' | ')} | all events | novel rows |`;
const rule = `| ${['---', '---', '---', ...classes.map(() => '---'), '---', '---'].join(' | ')} |`;
const body = results.map(
  (r) =>
    `| ${r.round} | ${r.version} | ${r.labels} | ${classes.map((c) => {
      const k = r.score.perClass.get(c)!;
      return `${k.right} (${pct(k.right, k.total)})`;
    }).join(' | ')} | ${r.score.right}/${r.score.total} (${pct(r.score.right, r.score.total)}) | ${(100 * r.score.novelShare).toFixed(1)}% of ${r.score.rows} |`,
);
console.log(`\nday 2 (${day2.date}, generator seed ${day2.seed}, ${hours} h), events right by class; labels from day 1 (seed ${day1.seed}), ${n} suggestions a round`);
console.log([head, rule, ...body].join('\n'));
console.log(`\n${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ${elapsed.toFixed(0)} s for ${rounds} rounds (nightly runs included)`);
console.log(`suggestion files: ${join(work, 'suggest-1.csv')} ... ; labelled: ${join(work, 'labelled-1.csv')} ...`);
