import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { MAX_BATCH_QUERIES } from '../engines/engine.js';
import { ENGINE_CHOICES } from '../engines/registry.js';
import { FlowknnError, usageError, unreadable } from '../errors.js';
import { parseKeySpec, parseWindow, type WindowSpec } from '../features/aggregate.js';
import { jsonKeyLine, parseJsonText, schemaProblem } from '../io/json.js';
import { checkTimeZone } from '../ingest/archive.js';
import { didYouMean } from '../suggest.js';
import { parseCidr } from './networks.js';

/**
 * The nightly job's configuration: one JSON file, validated strictly (an unknown key or a bad
 * value is a usage error naming the key and the line). Relative paths are taken from the
 * config file's own folder, so a job runs the same from cron, systemd or a shell anywhere.
 */

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/u, 'expected a plain name (letters, digits, . _ -)');
const positiveInt = z.number().int().min(1);

const archiveSchema = z
  .object({
    /** The folder nfcapd writes into (its -w flow directory), flat or in day folders. */
    root: z.string().min(1),
    /** Zone of the nfcapd file names and of --date: UTC, local or an IANA name. */
    timeZone: z.string().default('UTC'),
    /** nfcapd's rotation interval (its -t): the slots of a day, so that a missing file is reported. */
    interval: positiveInt.default(300),
  })
  .strict();

const modelSchema = z.union([
  z.object({ registry: z.string().min(1), name }).strict(),
  z.object({ path: z.string().min(1) }).strict(),
]);

const aggregateSchema = z
  .object({
    /**
     * nfdump: nfdump computes the statistics of each file (`-s KEY/ORDER -n 0 -o csv`), one
     * window per nfcapd file, as the seed study did; fastest. flows: nfdump prints the flows
     * and flowknn aggregates them per key and aligned window (any key combination, any window).
     */
    source: z.enum(['nfdump', 'flows']).default('nfdump'),
    /** nfdump source: one nfdump statistic (dstip, srcip, dstport, ...); flows source: key fields joined with + (dstip+proto), an address field with a prefix (dstip/24, dstip/24/48). */
    key: z.string().regex(/^[a-z][a-z0-9+:/]*$/u, 'expected a key like dstip, srcip, dstip+proto or dstip/24').default('dstip'),
    /**
     * flows source only: aligned windows as the CLI's --window takes them (300, "300s", "5m",
     * "1h") or "whole"; the nfdump source always uses the file. Read as seconds, so 300 and
     * "5m" are one setting (and one config digest).
     */
    window: z
      .union([z.number(), z.string()])
      .transform((v, ctx): WindowSpec => {
        try {
          return parseWindow(v);
        } catch {
          ctx.addIssue({ code: 'custom', message: `expected whole seconds > 0 (300), "300s", "5m", "1h" or "whole", got ${JSON.stringify(v)}` });
          return z.NEVER;
        }
      })
      .default(300),
    /** Keep aggregates with at least this many packets / bytes (the seed used nfdump -l 1000). */
    minPackets: z.number().int().min(0).default(0),
    minBytes: z.number().int().min(0).default(0),
    /** Keep the top n aggregates of each window by pps or bps (the seed labelled nfdump's top 10). */
    top: z.object({ n: positiveInt, by: z.enum(['pps', 'bps']) }).strict().nullable().default(null),
  })
  .strict();

const classifySchema = z
  .object({
    engine: z.enum(ENGINE_CHOICES).default('auto'),
    /** CPU engine worker threads (0: one per core). */
    threads: z.number().int().min(0).default(0),
    /** Rows per search of the night's batches (0: the engine's choice, queriesPerSearch). */
    batchRows: z.number().int().min(0).max(MAX_BATCH_QUERIES).default(0),
    /** Predicted classes that raise an alert. */
    alertClasses: z.array(name).default([]),
    /** Rows beyond the model's novelty threshold raise an alert too. */
    alertOnNovel: z.boolean().default(true),
    /** When set, novel rows are predicted as this label instead of their vote. */
    unknownLabel: name.nullable().default(null),
  })
  .strict();

/** limits.maxRows of the flows source when the config sets none. */
export const FLOWS_MAX_ROWS = 1_000_000;

const limitsSchema = z
  .object({
    /** Input files processed at once, nfdump processes included (0: one per core). */
    jobs: z.number().int().min(0).default(0),
    /** Per input: fail it when more lines than this are rejected... */
    maxRejects: z.number().int().min(0).nullable().default(null),
    /** ...or more than this fraction of its lines. */
    maxRejectFraction: z.number().min(0).max(1).default(0.01),
    /**
     * Aggregates a night may classify; more stops the job (exit 2) before the search. The
     * nfdump source streams the night in bounded memory (stream.ts): no limit unless one is
     * set. The flows source holds the night's groups while it merges them: FLOWS_MAX_ROWS
     * unless one is set.
     */
    maxRows: positiveInt.nullable().default(null),
    /** Seconds one input may take (nfdump and the reading of its output): a stuck one fails alone. */
    inputTimeout: z.number().positive().default(1800),
  })
  .strict();

const reportSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Rows listed at most in each table of the report. */
    maxRows: positiveInt.default(50),
    /**
     * Previous nights the report sets tonight against (incidents, alerts and novel rows per
     * night; hosts new tonight), read from the other day folders of output.root; 0: none.
     */
    history: z.number().int().min(0).max(366).default(14),
  })
  .strict();

const notifySchema = z
  .object({
    /** Program and arguments run with the alerts (NDJSON) on stdin when there are any. No shell. */
    command: z.array(z.string().min(1)).min(1).nullable().default(null),
  })
  .strict();

/** An address or a CIDR block, IPv4 or IPv6 (networks.ts). */
const cidr = z.string().superRefine((text, ctx) => {
  const c = parseCidr(text);
  if (typeof c === 'string') ctx.addIssue({ code: 'custom', message: c });
});

const networksSchema = z
  .object({
    /** The operator's own address blocks: an incident's direction is told against them. */
    own: z.array(cidr).default([]),
  })
  .strict();

/** Severity names, lowest first; event.severity carries them as numbers (incidents.ts). */
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
const severity = z.enum(SEVERITIES);

const suppressRuleSchema = z
  .object({
    /** An address or a CIDR block the incident's host lies in. */
    host: cidr,
    /** The incident's class, "novelty" for novelty-only incidents, or "any". */
    class: name.default('any'),
    /** The last night (YYYY-MM-DD, inclusive) the rule applies to; after it, it is reported and not applied. */
    until: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/u, 'expected a date YYYY-MM-DD')
      .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'expected a date that exists')
      .nullable()
      .default(null),
    /** Why the traffic is known (shown with every incident it suppresses). */
    reason: z.string().trim().min(1, 'a reason is required: say why this traffic is known'),
  })
  .strict();

const drilldownSchema = z
  .object({
    /** Run nfdump for each incident's top peers, ports and protocols (nfcapd inputs only). */
    enabled: z.boolean().default(true),
    /** Rows of each list (nfdump -n). */
    top: positiveInt.max(1000).default(10),
    /** Incidents drilled into at most, highest ranked first; the others get the command only. */
    maxIncidents: z.number().int().min(0).default(50),
    /** Seconds one drill-down may take before it is given up (a warning, not a failure). */
    timeout: z.number().positive().default(60),
  })
  .strict();

const incidentsSchema = z
  .object({
    /** Windows without an alert that may lie between two alert windows of one incident (0: they must touch). */
    gap: z.number().int().min(0).default(1),
    /** Severity of an incident of each alert class; classes not named get defaultSeverity. */
    severity: z.record(name, severity).default({}),
    defaultSeverity: severity.default('medium'),
    /** Severity of an incident whose windows alerted for novelty only. */
    noveltySeverity: severity.default('low'),
    /** Known traffic: incidents that match a rule are listed apart, counted, and not notified. */
    suppress: z.array(suppressRuleSchema).default([]),
    drilldown: drilldownSchema.default(() => drilldownSchema.parse({})),
  })
  .strict();

export const nightlyConfigSchema = z
  .object({
    $comment: z.string().optional(),
    archive: archiveSchema,
    /** The nfdump binary (default: nfdump on PATH); --nfdump overrides it. */
    nfdump: z.string().min(1).optional(),
    /** Day folders out/<date>/ are written under this folder. */
    output: z.object({ root: z.string().min(1) }).strict(),
    model: modelSchema,
    aggregate: aggregateSchema.default(() => aggregateSchema.parse({})),
    classify: classifySchema.default(() => classifySchema.parse({})),
    limits: limitsSchema.default(() => limitsSchema.parse({})),
    report: reportSchema.default(() => reportSchema.parse({})),
    notify: notifySchema.default(() => notifySchema.parse({})),
    networks: networksSchema.default(() => networksSchema.parse({})),
    incidents: incidentsSchema.default(() => incidentsSchema.parse({})),
  })
  .strict();

export type NightlyConfig = z.infer<typeof nightlyConfigSchema>;

export interface LoadedConfig {
  readonly file: string;
  readonly config: NightlyConfig;
  /** sha256 of the settings that decide the inputs' parts and the classification (not paths, jobs or report styling). */
  readonly digest: string;
  /**
   * sha256 of the settings that decide the incidents only (networks, incidents): a change
   * redoes the day's outputs from the committed inputs, without reading the inputs again.
   */
  readonly incidentsDigest: string;
  /** Absolute paths, resolved against the config file's folder. */
  readonly paths: { archive: string; output: string; registry?: string; model?: string };
  /** The file's text, for the line of a key a later check refuses. */
  readonly text: string;
}

/**
 * What the config asks of the model it names, checked once the model is read: every
 * `classify.alertClasses` entry must be one of the model's classes (or `classify.unknownLabel`),
 * else alerts of that class silently never come (a typo `small-floods` for `small-flood`); an
 * `alertOnNovel` set in the file needs a model with a novelty threshold.
 */
export function checkConfigAgainstModel(config: LoadedConfig, classes: readonly string[], model: string, noveltyThreshold: number | null): void {
  const c = config.config.classify;
  // alertOnNovel written in the file (not the default) with a model that has no novelty
  // threshold: no row can be novel, so the setting cannot do what it says.
  const novelLine = jsonKeyLine(config.text, 'alertOnNovel');
  if (c.alertOnNovel && noveltyThreshold === null && novelLine !== undefined) {
    throw new FlowknnError('usage', `classify.alertOnNovel: the model ${model} has no novelty threshold, so no row can be novel`, {
      file: config.file,
      line: novelLine,
      hint: 'train the model again (flowknn train, or sweep --save-model) to store one, or set "alertOnNovel": false',
    });
  }
  const allowed = [...classes, ...(c.unknownLabel ? [c.unknownLabel] : [])];
  const missing = c.alertClasses.filter((a) => !allowed.includes(a));
  if (missing.length === 0) return;
  const near = missing.map((m) => `"${m}"${didYouMean(m, allowed, (n) => `"${n}"`)}`).join(', ');
  throw new FlowknnError('usage', `classify.alertClasses: ${near} ${missing.length === 1 ? 'is not a class' : 'are not classes'} of the model ${model}; its classes: ${allowed.join(', ')}`, {
    file: config.file,
    line: jsonKeyLine(config.text, 'alertClasses'),
    hint: 'name classes the model has (flowknn models lists them), or train a model that has the class',
  });
}

export function parseNightlyConfig(text: string, file: string): LoadedConfig {
  const json = parseJsonText(text);
  if ('problem' in json) throw usageErrorAt(json.problem.message, file, json.problem.line);
  const parsed = nightlyConfigSchema.safeParse(json.value);
  if (!parsed.success) {
    const p = schemaProblem(parsed.error, text, { model: 'expected { "registry": DIR, "name": NAME } or { "path": MODEL_DIR }' }, nightlyConfigSchema);
    throw usageErrorAt(p.message, file, p.line, 'see pipelines/nightly.json for every key with its meaning');
  }
  const config = parsed.data;
  try {
    checkTimeZone(config.archive.timeZone);
  } catch (err) {
    if (!(err instanceof FlowknnError)) throw err;
    throw usageErrorAt(`archive.timeZone: ${err.message}`, file, jsonKeyLine(text, 'timeZone'), err.hint);
  }
  if (config.aggregate.source === 'flows') {
    try {
      parseKeySpec(config.aggregate.key);
    } catch (err) {
      if (!(err instanceof FlowknnError)) throw err;
      throw usageErrorAt(`aggregate.key for the flows source: ${err.message}`, file, jsonKeyLine(text, 'key'));
    }
  } else if (config.aggregate.key === 'router') {
    throw usageErrorAt('aggregate.key: "router" is no nfdump statistic; the nfdump source reads each file on its own, so its rows are per router already (the aggregates\' router column)', file, jsonKeyLine(text, 'key'), 'use "source": "flows" to aggregate across files by router (dstip+router)');
  } else if (config.aggregate.key.includes('/')) {
    throw usageErrorAt(`aggregate.key: nfdump statistics have no prefix keys, got "${config.aggregate.key}"`, file, jsonKeyLine(text, 'key'), 'use "source": "flows" to aggregate by address prefix (dstip/24)');
  } else if (config.aggregate.key.includes('+')) {
    throw usageErrorAt(`aggregate.key: nfdump statistics take one element, got "${config.aggregate.key}"`, file, jsonKeyLine(text, 'key'), 'use "source": "flows" to aggregate by several fields');
  }
  const base = dirname(resolve(file));
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const model = config.model;
  const paths = {
    archive: at(config.archive.root),
    output: at(config.output.root),
    ...('registry' in model ? { registry: at(model.registry) } : { model: at(model.path) }),
  };
  const decisive = { aggregate: config.aggregate, classify: { alertClasses: config.classify.alertClasses, alertOnNovel: config.classify.alertOnNovel, unknownLabel: config.classify.unknownLabel }, limits: { maxRejects: config.limits.maxRejects, maxRejectFraction: config.limits.maxRejectFraction }, timeZone: config.archive.timeZone };
  const digest = createHash('sha256').update(JSON.stringify(decisive)).digest('hex');
  const incidentsDigest = createHash('sha256').update(JSON.stringify({ networks: config.networks, incidents: config.incidents })).digest('hex');
  return { file, config, digest, incidentsDigest, paths, text };
}

function usageErrorAt(message: string, file: string, line: number | undefined, hint?: string): FlowknnError {
  return new FlowknnError('usage', message, { file, line, hint });
}

export async function loadNightlyConfig(file: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw usageError(`--config ${file}: ${unreadable(err)}`, 'pipelines/nightly.json is a documented example');
  }
  return parseNightlyConfig(text, file);
}
