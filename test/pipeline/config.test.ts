import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowknnError } from '../../src/errors.js';
import { checkConfigAgainstModel, loadNightlyConfig, parseNightlyConfig } from '../../src/pipeline/config.js';
import { parseShard, shardOf } from '../../src/pipeline/nightly.js';
import { REPO_ROOT } from '../helpers/paths.js';

function error(text: string): FlowknnError {
  try {
    parseNightlyConfig(text, '/etc/flowknn/night.json');
  } catch (err) {
    if (err instanceof FlowknnError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

const minimal = { archive: { root: 'flows' }, output: { root: 'out' }, model: { path: 'model' } };

describe('nightly config', () => {
  it('the shipped configs are valid, with paths taken from their own folder', async () => {
    const example = await loadNightlyConfig(join(REPO_ROOT, 'pipelines/nightly.json'));
    expect(example.paths.registry).toBe('/var/lib/flowknn/models');
    expect(example.config.aggregate.minPackets).toBe(1000);
    const demo = await loadNightlyConfig(join(REPO_ROOT, 'pipelines/demo.json'));
    expect(demo.paths.archive).toBe(join(REPO_ROOT, 'out/demo/archive/flows'));
  });

  it('fills defaults and relative paths from the config folder', () => {
    const c = parseNightlyConfig(JSON.stringify(minimal), '/etc/flowknn/night.json');
    expect(c.paths).toEqual({ archive: '/etc/flowknn/flows', output: '/etc/flowknn/out', model: '/etc/flowknn/model' });
    expect(c.config.aggregate).toMatchObject({ source: 'nfdump', key: 'dstip', minPackets: 0 });
    expect(c.config.classify.engine).toBe('auto');
  });

  it('an unknown key, a bad value or bad JSON is a usage error naming the key and the line', () => {
    const unknown = error(JSON.stringify({ ...minimal, classify: { engine: 'cpu', alertClases: ['x'] } }, null, 2));
    expect(unknown.exitCode).toBe(2);
    expect(unknown.format()).toMatch(/^\/etc\/flowknn\/night\.json:\d+: classify\.alertClases: unknown key/u);
    expect(unknown.line).toBe(13);
    const bad = error(JSON.stringify({ ...minimal, limits: { maxRejectFraction: 2 } }, null, 2));
    expect(bad.format()).toContain('limits.maxRejectFraction');
    const engine = error(JSON.stringify({ ...minimal, classify: { engine: 'gpu' } }));
    expect(engine.format()).toContain('classify.engine');
    const batch = error(JSON.stringify({ ...minimal, classify: { batchRows: 2 ** 20 } }));
    expect(batch.format()).toMatch(/classify\.batchRows: .*524288/u);
    const model = error(JSON.stringify({ ...minimal, model: { registry: 'models' } }));
    expect(model.format()).toContain('model: expected { "registry": DIR, "name": NAME } or { "path": MODEL_DIR }');
    expect(error('{ "archive": ').format()).toContain('not valid JSON');
    const key = error(JSON.stringify({ ...minimal, aggregate: { key: 'dstip+proto' } }));
    expect(key.format()).toContain('use "source": "flows"');
    // the nfdump source reads files one by one: its rows are per router already
    expect(error(JSON.stringify({ ...minimal, aggregate: { key: 'router' } })).format()).toContain('"router" is no nfdump statistic');
    expect(parseNightlyConfig(JSON.stringify({ ...minimal, aggregate: { source: 'flows', key: 'dstip+router' } }), 'c.json').config.aggregate.key).toBe('dstip+router');
    const field = error(JSON.stringify({ ...minimal, aggregate: { source: 'flows', key: 'dstip+tos' } }));
    expect(field.format()).toContain('aggregate.key for the flows source: aggregation key: unknown field "tos"');
    // address prefixes: the flows source only, lengths in range, address fields only
    const prefixNfdump = error(JSON.stringify({ ...minimal, aggregate: { key: 'dstip/24' } }));
    expect(prefixNfdump.format()).toContain('nfdump statistics have no prefix keys, got "dstip/24"');
    expect(prefixNfdump.format()).toContain('use "source": "flows" to aggregate by address prefix');
    expect(error(JSON.stringify({ ...minimal, aggregate: { source: 'flows', key: 'dstip/33' } })).format()).toContain('the IPv4 prefix length must be 0..32, got 33');
    expect(error(JSON.stringify({ ...minimal, aggregate: { source: 'flows', key: 'dstip/24/129' } })).format()).toContain('the IPv6 prefix length must be 0..128, got 129');
    expect(error(JSON.stringify({ ...minimal, aggregate: { source: 'flows', key: 'proto/8' } })).format()).toContain('only srcip and dstip take a prefix length, got "proto/8"');
    expect(parseNightlyConfig(JSON.stringify({ ...minimal, aggregate: { source: 'flows', key: 'dstip/24+proto' } }), 'c.json').config.aggregate.key).toBe('dstip/24+proto');
  });

  it('a misspelt key is named with the key it is near, at the top level and inside', () => {
    const top = error(JSON.stringify({ ...minimal, clasify: { alertClasses: ['x'] } }, null, 2));
    expect(top.exitCode).toBe(2);
    expect(top.line).toBe(11);
    expect(top.message).toBe('clasify: unknown key ("clasify" (did you mean "classify"?)); known: archive, nfdump, output, model, aggregate, classify, limits, report, notify, networks, incidents');
    const inner = error(JSON.stringify({ ...minimal, limits: { maxReject: 3 } }));
    expect(inner.message).toMatch(/^limits\.maxReject: unknown key \("maxReject" \(did you mean "maxRejects"\?\)\); known: jobs, maxRejects, /u);
    const far = error(JSON.stringify({ ...minimal, zzzzzzzz: 1 }));
    expect(far.message).toMatch(/^zzzzzzzz: unknown key \("zzzzzzzz"\); known: archive, /u);
  });

  it('aggregate.window takes the forms --window takes: 300, "300s", "5m", "1h", "whole"', () => {
    const w = (window: unknown) => parseNightlyConfig(JSON.stringify({ ...minimal, aggregate: { source: 'flows', window } }), '/x/c.json');
    expect(w('5m').config.aggregate.window).toBe(300);
    expect(w('1h').config.aggregate.window).toBe(3600);
    expect(w('300s').config.aggregate.window).toBe(300);
    expect(w(600).config.aggregate.window).toBe(600);
    expect(w('whole').config.aggregate.window).toBe('whole');
    // one setting, one digest: a rerun does not redo the day for the other spelling
    expect(w('5m').digest).toBe(w(300).digest);
    for (const bad of ['5 minutes', 0, -300, 1.5, '']) {
      const e = error(JSON.stringify({ ...minimal, aggregate: { source: 'flows', window: bad } }));
      expect(e.exitCode).toBe(2);
      expect(e.message).toMatch(/^aggregate\.window: expected whole seconds > 0 \(300\), "300s", "5m", "1h" or "whole"/u);
    }
  });

  it('settings the model cannot honour: alertClasses it lacks; alertOnNovel, when written, without a novelty threshold', () => {
    const classes = ['http', 'small-flood'];
    const check = (classify: object, threshold: number | null) => {
      const c = parseNightlyConfig(JSON.stringify({ ...minimal, classify }, null, 2), '/etc/flowknn/night.json');
      try {
        checkConfigAgainstModel(c, classes, 'seed v1', threshold);
      } catch (err) {
        if (err instanceof FlowknnError) return err;
        throw err;
      }
      return undefined;
    };
    const typo = check({ alertClasses: ['small-floods'] }, 1)!;
    expect(typo.exitCode).toBe(2);
    expect(typo.format()).toBe('/etc/flowknn/night.json:12: classify.alertClasses: "small-floods" (did you mean "small-flood"?) is not a class of the model seed v1; its classes: http, small-flood\n  hint: name classes the model has (flowknn models lists them), or train a model that has the class');
    expect(check({ alertClasses: ['small-flood'] }, 1)).toBeUndefined();
    expect(check({ alertClasses: ['unknown'], unknownLabel: 'unknown' }, 1)).toBeUndefined();
    const novel = check({ alertOnNovel: true }, null)!;
    expect(novel.exitCode).toBe(2);
    expect(novel.message).toBe('classify.alertOnNovel: the model seed v1 has no novelty threshold, so no row can be novel');
    expect(novel.line).toBe(12);
    // the default is not a promise the file makes: a warning, not an error (src/pipeline/nightly.ts)
    expect(check({}, null)).toBeUndefined();
    expect(check({ alertOnNovel: false }, null)).toBeUndefined();
  });

  it('an unknown archive.timeZone is a usage error naming the key and line, not a crash when the default date is computed', () => {
    const zone = error(JSON.stringify({ ...minimal, archive: { root: 'flows', timeZone: 'Europe/Berln' } }, null, 2));
    expect(zone.exitCode).toBe(2);
    expect(zone.format()).toMatch(/^\/etc\/flowknn\/night\.json:4: archive\.timeZone: unknown time zone "Europe\/Berln"/u);
    for (const ok of ['UTC', 'local', 'Europe/Berlin']) expect(parseNightlyConfig(JSON.stringify({ ...minimal, archive: { root: 'flows', timeZone: ok } }), '/x/c.json').config.archive.timeZone).toBe(ok);
  });

  it('the digest changes with settings that change outputs, not with paths or parallelism', () => {
    const d = (extra: object) => parseNightlyConfig(JSON.stringify({ ...minimal, ...extra }), '/x/c.json').digest;
    expect(d({ limits: { jobs: 4 } })).toBe(d({}));
    expect(d({ output: { root: 'elsewhere' } })).toBe(d({}));
    expect(d({ aggregate: { minPackets: 10 } })).not.toBe(d({}));
    expect(d({ classify: { alertClasses: ['x'] } })).not.toBe(d({}));
    // the report's look redoes nothing: the day's outputs are the same
    expect(d({ report: { history: 30, maxRows: 10 } })).toBe(d({}));
  });

  it('report.history: previous nights in the report, 14 by default, 0 for none, at most 366', () => {
    const h = (history?: unknown) => parseNightlyConfig(JSON.stringify({ ...minimal, report: history === undefined ? {} : { history } }), '/x/c.json').config.report.history;
    expect(h()).toBe(14);
    expect(h(0)).toBe(0);
    expect(h(366)).toBe(366);
    for (const bad of [367, -1, 1.5, '14']) {
      const e = error(JSON.stringify({ ...minimal, report: { history: bad } }, null, 2));
      expect(e.exitCode, String(bad)).toBe(2);
      expect(e.message).toMatch(/^report\.history: /u);
      expect(e.line).toBe(12);
    }
  });
});

describe('shards', () => {
  it('--shard i/n is 1-based and checked', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/2', '3/2', '1/0', 'a/b', '1']) expect(() => parseShard(bad)).toThrow(/--shard/u);
  });

  it('every input lands in exactly one shard, fixed by its path alone', () => {
    const paths = Array.from({ length: 288 }, (_, i) => `2026/11/01/nfcapd.20261101${String(Math.floor(i / 12)).padStart(2, '0')}${String((i % 12) * 5).padStart(2, '0')}`);
    for (const n of [1, 2, 3, 8]) {
      const counts = new Array<number>(n).fill(0);
      for (const p of paths) {
        const s = shardOf(p, n);
        expect(s).toBeGreaterThanOrEqual(1);
        expect(s).toBeLessThanOrEqual(n);
        expect(shardOf(p, n)).toBe(s);
        counts[s - 1]!++;
      }
      // a hash split: no shard is empty or takes twice its share of a day
      for (const c of counts) expect(c).toBeLessThan((2 * 288) / n);
      for (const c of counts) expect(c).toBeGreaterThan(0);
    }
  });
});
