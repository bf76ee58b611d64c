import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { formatInZone, zonedToEpoch } from '../../src/ingest/archive.js';
import { parseNightlyConfig, type LoadedConfig } from '../../src/pipeline/config.js';
import { generateArchive } from '../../src/synth/generate.js';
import { ensureBuilt, runMain } from '../helpers/cli.js';
import { hasNfdumpTools } from '../helpers/nfcapd-fixture.js';
import { REPO_ROOT, SEED_LABELS } from '../helpers/paths.js';
import { makeTempDir } from '../helpers/tmp.js';
import { yesterday } from '../../src/pipeline/nightly.js';

/**
 * The deployment files (pipelines/k8s, pipelines/systemd) checked without a cluster or a
 * systemd to run them on: the manifests parse and fit together (config, volumes, deadlines,
 * failure policies), the shell steps in them run here with bash (with a stand-in flowknn, and
 * with the real CLI on a generated day when nfdump is there), and the units pass
 * systemd-analyze verify.
 */

const K8S = join(REPO_ROOT, 'pipelines/k8s');
const SYSTEMD = join(REPO_ROOT, 'pipelines/systemd');

// ---------------------------------------------------------------------------------------------
// Small typed views of the manifests (only the fields read here).

interface EnvVar {
  name: string;
  value?: string;
}
interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: Mount[];
  resources?: { limits?: { cpu?: string } };
}
interface Volume {
  name: string;
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  emptyDir?: object;
}
interface PodSpec {
  restartPolicy?: string;
  hostname?: string;
  serviceAccountName?: string;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}
interface ExitRule {
  action: string;
  onExitCodes?: { containerName?: string; operator: 'In' | 'NotIn'; values: number[] };
  onPodConditions?: { type: string }[];
}
interface JobSpec {
  completionMode?: string;
  completions?: number;
  parallelism?: number;
  backoffLimit?: number;
  backoffLimitPerIndex?: number;
  podReplacementPolicy?: string;
  activeDeadlineSeconds?: number;
  podFailurePolicy?: { rules: ExitRule[] };
  template: { spec: PodSpec };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string }[];
}

async function readYaml(file: string): Promise<Manifest[]> {
  const docs = parseAllDocuments(await readFile(file, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${file}: not YAML documents`);
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  }
  return docs.map((d) => d.toJS() as Manifest);
}

function one(docs: Manifest[], kind: string): Manifest {
  const found = docs.filter((d) => d.kind === kind);
  expect(found.map((d) => d.kind), `one ${kind}`).toEqual([kind]);
  return found[0]!;
}

function container(pod: PodSpec, name: string): Container {
  const c = [...(pod.initContainers ?? []), ...pod.containers].find((x) => x.name === name);
  if (!c) throw new Error(`no container "${name}"`);
  return c;
}

function env(c: Container, name: string): string {
  const v = c.env?.find((e) => e.name === name)?.value;
  if (v === undefined) throw new Error(`container ${c.name}: no env ${name}`);
  return v;
}

/** The script a `bash -c SCRIPT` container runs. */
function script(c: Container): string {
  expect([...(c.command ?? []), ...(c.args ?? [])].slice(0, 2), `container ${c.name} runs bash -c`).toEqual(['bash', '-c']);
  const s = [...(c.command ?? []), ...(c.args ?? [])][2];
  if (typeof s !== 'string') throw new Error(`container ${c.name}: no script`);
  return s;
}

function isUnder(path: string, dir: string): boolean {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith('..') && !r.startsWith(sep) && r !== '..');
}

/** The volume (and its mount) a path of a container lies on: the deepest mount holding it. */
function volumeOf(pod: PodSpec, c: Container, path: string): { mount: Mount; volume: Volume } {
  const mounts = (c.volumeMounts ?? []).filter((m) => isUnder(path, m.mountPath)).sort((a, b) => b.mountPath.length - a.mountPath.length);
  const mount = mounts[0];
  if (!mount) throw new Error(`container ${c.name}: ${path} is on no mounted volume`);
  const volume = pod.volumes?.find((v) => v.name === mount.name);
  if (!volume) throw new Error(`container ${c.name}: mount ${mount.name} names no volume`);
  return { mount, volume };
}

function seconds(duration: string): number {
  // kubectl's (30s, 5m, 4h) and systemd's (30s, 5min, 1h) spellings.
  const m = /^(\d+)(s|m|min|h)$/u.exec(duration);
  if (!m) throw new Error(`not a duration: ${duration}`);
  return Number(m[1]) * { s: 1, m: 60, min: 60, h: 3600 }[m[2] as 's' | 'm' | 'min' | 'h'];
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a manifest's script with bash and the given environment (PATH first: a stand-in flowknn). */
function bash(source: string, environment: Record<string, string>): Promise<Ran> {
  return new Promise((resolvePromise) => {
    execFile('bash', ['-c', source], { env: { ...process.env, ...environment }, timeout: 300_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------

let k8s: { cron: Manifest; role: Manifest; binding: Manifest; account: Manifest; shards: Manifest; merge: Manifest; pvcs: Manifest[]; kustomization: Manifest };
let config: LoadedConfig;
/** Where the ConfigMap puts the config in every pod, from the containers' FLOWKNN_CONFIG. */
const CONFIG_IN_POD = '/etc/flowknn/nightly.json';
let tmp: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir: tmp, cleanup } = await makeTempDir('flowknn-deploy-'));
  const cronDocs = await readYaml(join(K8S, 'nightly-cronjob.yaml'));
  k8s = {
    cron: one(cronDocs, 'CronJob'),
    role: one(cronDocs, 'Role'),
    binding: one(cronDocs, 'RoleBinding'),
    account: one(cronDocs, 'ServiceAccount'),
    shards: one(await readYaml(join(K8S, 'shards-job.yaml')), 'Job'),
    merge: one(await readYaml(join(K8S, 'merge-job.yaml')), 'Job'),
    pvcs: (await readYaml(join(K8S, 'storage.yaml'))).filter((d) => d.kind === 'PersistentVolumeClaim'),
    kustomization: one(await readYaml(join(K8S, 'kustomization.yaml')), 'Kustomization'),
  };
  config = parseNightlyConfig(await readFile(join(K8S, 'nightly.json'), 'utf8'), CONFIG_IN_POD);
});

afterAll(() => cleanup?.());

const jobSpec = (m: Manifest) => m.spec as unknown as JobSpec;
const cronJobSpec = () => (k8s.cron.spec as unknown as { jobTemplate: { spec: JobSpec } }).jobTemplate.spec;
const shardPod = () => jobSpec(k8s.shards).template.spec;
const cronPod = () => cronJobSpec().template.spec;

/** A stand-in `flowknn` on PATH: writes its arguments (one per line) to $STUB_LOG, exits $STUB_RC. */
async function stubFlowknn(): Promise<string> {
  const bin = join(tmp, 'stub-bin');
  await mkdir(bin, { recursive: true });
  const file = join(bin, 'flowknn');
  await writeFile(file, '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$STUB_LOG"\n[ -e "$STUB_LOCK" ] && echo lock-present >> "$STUB_LOG"\nexit "${STUB_RC:-0}"\n');
  await chmod(file, 0o755);
  return bin;
}

/** The config with the pod's paths moved under `root` (what the scripts read of it: output.root). */
async function configUnder(root: string, extra: Record<string, unknown> = {}): Promise<string> {
  const raw = JSON.parse(await readFile(join(K8S, 'nightly.json'), 'utf8')) as Record<string, unknown>;
  const file = join(root, 'nightly.json');
  await mkdir(root, { recursive: true });
  await writeFile(file, JSON.stringify({ ...raw, output: { root: join(root, 'out') }, ...extra }, null, 2));
  return file;
}

const PATH_WITH = (bin: string) => `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`;

describe('Kubernetes manifests (pipelines/k8s)', () => {
  it('kustomization builds from files that are there, and every manifest is used', async () => {
    const kz = k8s.kustomization as unknown as { resources: string[]; configMapGenerator: { name: string; files: string[] }[] };
    const named = [...kz.resources, ...kz.configMapGenerator.flatMap((g) => g.files)];
    for (const f of named) expect(existsSync(join(K8S, f)), f).toBe(true);
    const yamls = (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(yamls.filter((f) => !named.includes(f)), 'manifests neither applied nor templates').toEqual([]);
    // The pods mount these ConfigMaps by name: the generator must keep the names as they are.
    const generated = kz.configMapGenerator.map((g) => g.name);
    const mounted = [shardPod(), jobSpec(k8s.merge).template.spec, cronPod()].flatMap((p) => (p.volumes ?? []).flatMap((v) => (v.configMap ? [v.configMap.name] : [])));
    expect(new Set(mounted)).toEqual(new Set(generated));
    expect((k8s.kustomization as unknown as { generatorOptions?: { disableNameSuffixHash?: boolean } }).generatorOptions?.disableNameSuffixHash).toBe(true);
    // The config the ConfigMap carries is the one the pods read.
    expect(kz.configMapGenerator.find((g) => g.files.includes('nightly.json'))?.name).toBe('flowknn-config');
  });

  it('the config is valid and each of its paths lies on the right volume in every pod that runs flowknn', () => {
    const claims = new Map(k8s.pvcs.map((p) => [p.metadata.name, (p.spec as { accessModes: string[] }).accessModes]));
    const pods: [string, PodSpec, string][] = [
      ['shards', shardPod(), 'shard'],
      ['merge job', jobSpec(k8s.merge).template.spec, 'merge'],
      ['nightly merge', cronPod(), 'merge'],
      ['nightly plan', cronPod(), 'plan'],
    ];
    for (const [what, pod, name] of pods) {
      const c = container(pod, name);
      expect(env(c, 'FLOWKNN_CONFIG'), what).toBe(CONFIG_IN_POD);
      expect(volumeOf(pod, c, CONFIG_IN_POD).volume.configMap?.name, `${what}: the config`).toBe('flowknn-config');
      if (name === 'plan') continue;
      // Outputs and the model registry: on the shared ReadWriteMany claim, writable.
      for (const path of [config.paths.output, config.paths.registry ?? config.paths.model!]) {
        const { mount, volume } = volumeOf(pod, c, path);
        const claim = volume.persistentVolumeClaim?.claimName;
        expect(claim, `${what}: ${path}`).toBeDefined();
        expect(claims.get(claim!), `${what}: ${path} on ${claim}`).toContain('ReadWriteMany');
        expect(mount.readOnly ?? false, `${what}: ${path} writable`).toBe(false);
      }
    }
    // The archive: only the shards read it, from a read-only claim that many nodes can mount.
    const shard = container(shardPod(), 'shard');
    const { mount, volume } = volumeOf(shardPod(), shard, config.paths.archive);
    expect(mount.readOnly).toBe(true);
    expect(volume.persistentVolumeClaim?.readOnly).toBe(true);
    expect(claims.get(volume.persistentVolumeClaim!.claimName)).toContain('ReadOnlyMany');
  });

  it('the shards are an Indexed Job of n pods, retried per index, failed as a whole on a config error', () => {
    const spec = jobSpec(k8s.shards);
    expect(spec.completionMode).toBe('Indexed');
    const n = Number(env(container(shardPod(), 'shard'), 'SHARDS'));
    expect(n).toBeGreaterThan(1);
    expect(spec.completions, 'completions = SHARDS').toBe(n);
    expect(spec.parallelism).toBeLessThanOrEqual(n);
    expect(spec.backoffLimitPerIndex).toBeGreaterThanOrEqual(1);
    // Never two pods of one shard at once (the stale-lock step relies on it); required with a failure policy.
    expect(spec.podReplacementPolicy).toBe('Failed');
    expect(shardPod().restartPolicy).toBe('Never');
    const rules = spec.podFailurePolicy!.rules;
    const onExit = (code: number) => rules.find((r) => r.onExitCodes && (r.onExitCodes.containerName ?? 'shard') === 'shard' && r.onExitCodes.values.includes(code) === (r.onExitCodes.operator === 'In'))?.action ?? 'Count';
    expect(onExit(2), 'exit 2: a config error, the same in every shard').toBe('FailJob');
    expect(onExit(3), 'exit 3: retried (--resume)').toBe('Count');
    expect(onExit(137), 'a kill: retried (--resume)').toBe('Count');
    expect(rules.find((r) => r.onPodConditions?.some((p) => p.type === 'DisruptionTarget'))?.action).toBe('Ignore');
    // The config's parallelism fits the CPU the shard is given (0 would count the node's cores).
    const cpu = Number(container(shardPod(), 'shard').resources?.limits?.cpu);
    expect(config.config.limits.jobs).toBeGreaterThan(0);
    expect(config.config.limits.jobs).toBeLessThanOrEqual(cpu);
    expect(config.config.classify.threads).toBeGreaterThan(0);
    expect(config.config.classify.threads).toBeLessThanOrEqual(cpu);
  });

  it('pod i of n runs flowknn nightly --shard i+1/n --resume on the planned day; exit 1 lets the merge go on, 2 and 3 stay', async () => {
    const c = container(shardPod(), 'shard');
    const n = Number(env(c, 'SHARDS'));
    const bin = await stubFlowknn();
    const cfg = await configUnder(join(tmp, 'stub-shards'));
    const log = join(tmp, 'stub-shards', 'args');
    const seen: string[] = [];
    for (let index = 0; index < n; index++) {
      const r = await bash(script(c), { PATH: PATH_WITH(bin), JOB_COMPLETION_INDEX: String(index), SHARDS: String(n), DATE: '2026-11-27', FLOWKNN_CONFIG: cfg, HOSTNAME: `flowknn-shards-2026-11-27-${index}`, STUB_LOG: log, STUB_LOCK: '/nonexistent' });
      expect(r.code, r.stderr).toBe(0);
      const argv = (await readFile(log, 'utf8')).trim().split('\n');
      expect(argv).toEqual(['nightly', '--config', cfg, '--date', '2026-11-27', '--shard', `${index + 1}/${n}`, '--resume']);
      seen.push(argv[6]!);
    }
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => `${i + 1}/${n}`));

    const base = { PATH: PATH_WITH(bin), JOB_COMPLETION_INDEX: '0', SHARDS: String(n), DATE: '2026-11-27', FLOWKNN_CONFIG: cfg, HOSTNAME: 'flowknn-shards-2026-11-27-0', STUB_LOG: log, STUB_LOCK: '/nonexistent' };
    const failedInputs = await bash(script(c), { ...base, STUB_RC: '1' });
    expect(failedInputs.code, 'some inputs failed: the shard is done, the merge reports them').toBe(0);
    expect(failedInputs.stderr).toMatch(/some inputs failed/u);
    expect((await bash(script(c), { ...base, STUB_RC: '2' })).code).toBe(2);
    expect((await bash(script(c), { ...base, STUB_RC: '3' })).code).toBe(3);
  });

  it('a lock left in the shard folder by a killed pod of the same index is removed; one of another host is not', async () => {
    const c = container(shardPod(), 'shard');
    const n = Number(env(c, 'SHARDS'));
    const bin = await stubFlowknn();
    const root = join(tmp, 'stub-locks');
    const cfg = await configUnder(root);
    const log = join(root, 'args');
    const lock = join(root, 'out', '.flowknn', '2026-11-27', 'shards', `2-of-${n}`, '.lock');
    await mkdir(dirname(lock), { recursive: true });
    const host = 'flowknn-shards-2026-11-27-1';
    const run = () => bash(script(c), { PATH: PATH_WITH(bin), JOB_COMPLETION_INDEX: '1', SHARDS: String(n), DATE: '2026-11-27', FLOWKNN_CONFIG: cfg, HOSTNAME: host, STUB_LOG: log, STUB_LOCK: lock });

    // As flowknn writes it (src/pipeline/lock.ts): one JSON line.
    await writeFile(lock, `${JSON.stringify({ pid: 1, host, started: '2026-11-28T00:31:00.000Z', command: 'flowknn nightly' })}\n`);
    expect((await run()).code).toBe(0);
    expect(await readFile(log, 'utf8')).not.toMatch(/lock-present/u);
    expect(existsSync(lock)).toBe(false);

    await writeFile(lock, `${JSON.stringify({ pid: 1, host: `${host}0`, started: '2026-11-28T00:31:00.000Z', command: 'flowknn nightly' })}\n`);
    expect((await run()).code).toBe(0);
    expect(await readFile(log, 'utf8'), 'the lock of another host stays for flowknn to judge').toMatch(/lock-present/u);
  });

  it('the nightly CronJob plans one day, starts the shards Job for it, waits for it, then merges that day', async () => {
    const pod = cronPod();
    expect((pod.initContainers ?? []).map((c) => c.name)).toEqual(['plan', 'start-shards', 'wait-shards']);
    expect(pod.containers.map((c) => c.name)).toEqual(['merge']);
    expect(pod.restartPolicy).toBe('Never');
    expect((k8s.cron.spec as { concurrencyPolicy: string }).concurrencyPolicy).toBe('Forbid');

    // plan: yesterday on the archive's calendar, or DAY; the template filled in with it.
    const plan = container(pod, 'plan');
    const planDir = join(tmp, 'plan');
    await mkdir(planDir, { recursive: true });
    const cfg = await configUnder(join(tmp, 'plan-config'));
    const planEnv = { FLOWKNN_CONFIG: cfg, TEMPLATES: K8S, PLAN: planDir, PATH: PATH_WITH('/nonexistent') };
    const zone = config.config.archive.timeZone;
    const yesterday = () => {
      const [y, m, d] = formatInZone(Date.now(), zone).slice(0, 10).split('-').map(Number);
      return new Date(Date.UTC(y!, m! - 1, d! - 1)).toISOString().slice(0, 10);
    };
    const before = yesterday();
    const byDefault = await bash(script(plan), { ...planEnv, DAY: '' });
    expect(byDefault.code, byDefault.stderr).toBe(0);
    expect([before, yesterday()]).toContain((await readFile(join(planDir, 'date'), 'utf8')).trim());

    const planned = await bash(script(plan), { ...planEnv, DAY: '2026-03-29' });
    expect(planned.code, planned.stderr).toBe(0);
    expect((await readFile(join(planDir, 'date'), 'utf8')).trim()).toBe('2026-03-29');
    const rendered = await readFile(join(planDir, 'shards.yaml'), 'utf8');
    expect(rendered).not.toContain('@DATE@');
    const job = one(await readYaml(join(planDir, 'shards.yaml')), 'Job');
    expect(job.metadata.name).toBe('flowknn-shards-2026-03-29');
    expect(env(container(jobSpec(job).template.spec, 'shard'), 'DATE')).toBe('2026-03-29');
    expect((await bash(script(plan), { ...planEnv, DAY: '27.11.2026' })).code, 'a DAY that is no date').toBe(2);

    // The planned Job is the one applied and waited for, in the folder the plan wrote.
    const planMount = (name: string) => container(pod, name).volumeMounts!.find((m) => m.name === 'plan')!.mountPath;
    expect(env(plan, 'PLAN')).toBe(planMount('plan'));
    expect(container(pod, 'start-shards').args).toEqual(['apply', '-f', `${planMount('start-shards')}/shards.yaml`]);
    const wait = container(pod, 'wait-shards').args!;
    expect(wait.slice(0, 2)).toEqual(['wait', '--for=condition=Complete']);
    expect(wait.slice(-2)).toEqual(['-f', `${planMount('wait-shards')}/shards.yaml`]);
    expect(env(container(pod, 'merge'), 'PLAN')).toBe(planMount('merge'));
    // The templates the plan reads are the files of the flowknn-jobs ConfigMap.
    expect(volumeOf(pod, plan, `${env(plan, 'TEMPLATES')}/shards-job.yaml`).volume.configMap?.name).toBe('flowknn-jobs');

    // merge: the planned day, the config the shards ran with.
    const bin = await stubFlowknn();
    const log = join(tmp, 'merge-args');
    const merged = await bash(script(container(pod, 'merge')), { FLOWKNN_CONFIG: cfg, PLAN: planDir, PATH: PATH_WITH(bin), HOSTNAME: pod.hostname ?? 'x', STUB_LOG: log, STUB_LOCK: '/nonexistent', STUB_RC: '1' });
    expect(merged.code, 'the merge exit is the night\'s').toBe(1);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['merge', '--config', cfg, '--date', '2026-03-29']);
  });

  it('the CronJob may start the shards Job and wait for it, and gives up on it no sooner than the Job itself', () => {
    const pod = cronPod();
    expect(pod.serviceAccountName).toBe(k8s.account.metadata.name);
    expect(k8s.binding.roleRef).toMatchObject({ kind: 'Role', name: k8s.role.metadata.name });
    expect(k8s.binding.subjects).toContainEqual(expect.objectContaining({ kind: 'ServiceAccount', name: k8s.account.metadata.name }));
    const jobVerbs = k8s.role.rules!.filter((r) => r.apiGroups.includes('batch') && r.resources.includes('jobs')).flatMap((r) => r.verbs);
    // kubectl apply: get, create, patch; kubectl wait: get, list, watch.
    for (const verb of ['get', 'create', 'patch', 'list', 'watch']) expect(jobVerbs, verb).toContain(verb);

    const wait = container(pod, 'wait-shards').args!;
    const waitS = seconds(wait.find((a) => a.startsWith('--timeout='))!.slice('--timeout='.length));
    const shardsDeadline = jobSpec(k8s.shards).activeDeadlineSeconds!;
    expect(waitS).toBeGreaterThanOrEqual(shardsDeadline);
    const driver = cronJobSpec();
    expect(driver.activeDeadlineSeconds!, 'room for the merge after the wait').toBeGreaterThan(waitS);
    // A retried driver pod picks "yesterday" again: every try must end on the day the first began.
    const cron = k8s.cron.spec as { schedule: string; timeZone: string; startingDeadlineSeconds: number };
    expect(cron.timeZone, 'the schedule runs on the archive\'s clock').toBe(config.config.archive.timeZone);
    const [minute, hour] = cron.schedule.split(' ').map(Number);
    const startS = hour! * 3600 + minute! * 60;
    expect(startS).toBeGreaterThanOrEqual(5 * 60);
    expect(startS + cron.startingDeadlineSeconds + driver.activeDeadlineSeconds!).toBeLessThan(24 * 3600);
    // flowknn's exits are the merge's answer, a kill is retried; a wait that ran out means
    // shards that did not complete: nothing to merge.
    const rules = driver.podFailurePolicy!.rules;
    const onExit = (name: string, code: number) => rules.find((r) => r.onExitCodes?.containerName === name && r.onExitCodes.values.includes(code) === (r.onExitCodes.operator === 'In'))?.action ?? 'Count';
    for (const code of [1, 2, 3]) expect(onExit('merge', code), `merge exit ${code}`).toBe('FailJob');
    expect(onExit('merge', 137), 'merge killed').toBe('Count');
    expect(onExit('wait-shards', 1), 'wait timed out').toBe('FailJob');
  });

  it('the merge Job for days done by hand runs the same merge as the CronJob', async () => {
    const bin = await stubFlowknn();
    const cfg = await configUnder(join(tmp, 'merge-job'));
    const log = join(tmp, 'merge-job', 'args');
    const text = (await readFile(join(K8S, 'merge-job.yaml'), 'utf8')).replaceAll('@DATE@', '2026-11-27');
    const job = one(parseAllDocuments(text).map((d) => d.toJS() as Manifest), 'Job');
    const c = container(jobSpec(job).template.spec, 'merge');
    const r = await bash(script(c), { ...Object.fromEntries(c.env!.map((e) => [e.name, e.value!])), FLOWKNN_CONFIG: cfg, PATH: PATH_WITH(bin), STUB_LOG: log });
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['merge', '--config', cfg, '--date', '2026-11-27']);
    expect(c.image).toBe(container(cronPod(), 'merge').image);
  });

  it('one flowknn image everywhere, built by the Dockerfile the way the README installs and builds', async () => {
    const images = new Set([shardPod(), jobSpec(k8s.merge).template.spec, cronPod()].flatMap((p) => [...(p.initContainers ?? []), ...p.containers]).filter((c) => !c.image.includes('kubectl')).map((c) => c.image));
    expect(images.size, [...images].join(', ')).toBe(1);

    const dockerfile = await readFile(join(K8S, 'Dockerfile'), 'utf8');
    const lines = dockerfile.replace(/\\\n/gu, ' ').split('\n').filter((l) => !/^\s*(#|$)/u.test(l));
    const runs = lines.filter((l) => l.startsWith('RUN ')).join(' && ');
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string }; bin: Record<string, string>; files: string[] };
    // The README's install is npm ci; the build is package.json's build script.
    expect(readme).toMatch(/npm ci/u);
    expect(runs).toMatch(/\bnpm ci\b/u);
    expect(pkg.scripts.build).toBeDefined();
    expect(runs).toMatch(/\bnpm run build\b/u);
    expect(runs.indexOf('npm run build')).toBeGreaterThan(runs.indexOf('npm ci'));
    // nfdump from Debian, as the README's test prerequisites; a Node that package.json accepts.
    expect(readme).toMatch(/Debian package `nfdump`/u);
    expect(runs).toMatch(/apt-get install[^&]*\bnfdump\b/u);
    expect(lines.find((l) => l.startsWith('FROM '))).toMatch(/^FROM node:20(\.\d+)*-bookworm-slim$/u);
    expect(pkg.engines.node).toMatch(/^>=20\./u);
    // The entrypoint is the package's bin, and the scripts in the manifests call `flowknn`.
    const entry = lines.find((l) => l.startsWith('ENTRYPOINT '))!;
    expect(JSON.parse(entry.slice('ENTRYPOINT '.length))).toEqual([`/app/${pkg.bin.flowknn}`]);
    expect(runs).toMatch(new RegExp(`ln -s /app/${pkg.bin.flowknn} /usr/local/bin/flowknn`, 'u'));

    // What the build copies in: nothing the build or the CLI needs is left out of the context
    // (the package's files but dist/, which the image builds itself).
    const ignored = (await readFile(join(K8S, 'Dockerfile.dockerignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    const needed = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', ...pkg.files.filter((f) => f !== 'dist')];
    for (const path of needed) expect(ignored.filter((p) => path === p || path.startsWith(`${p}/`)), path).toEqual([]);
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist']));
  });
});

// ---------------------------------------------------------------------------------------------
// The shard and merge steps with the real CLI on a generated day (nfdump and nfpcapd needed;
// in CI they are there, so this must run).

// As in the other nfcapd tests: in CI a missing nfdump is a failure, not a skip.
const realRun = hasNfdumpTools() || process.env.CI === 'true';

describe.runIf(realRun)(`the manifests' steps with the real CLI${realRun ? '' : ' (skipped: nfdump/nfpcapd not on PATH)'}`, () => {
  it('n shard pods and the merge write the day; a killed pod\'s lock is cleared, another host\'s stops the shard (exit 3)', async () => {
    const DATE = '2026-11-01';
    const root = join(tmp, 'real');
    const archive = await generateArchive({ out: join(root, 'archive'), date: DATE, hours: 1, seed: 11, background: 2000, jobs: 2 });
    const model = join(root, 'model');
    const trained = await runMain(['train', '--labels', SEED_LABELS, '--exclude', 'nfs', '--protocol', 'none', '--engine', 'cpu', '--out', model, '--quiet']);
    expect(trained.code, trained.stderr).toBe(0);
    await ensureBuilt();
    const bin = join(root, 'bin');
    await mkdir(bin, { recursive: true });
    await symlink(join(REPO_ROOT, 'bin/flowknn.js'), join(bin, 'flowknn'));
    const cfg = await configUnder(root, { archive: { root: archive.flowsDir, timeZone: 'UTC' }, model: { path: model }, classify: { engine: 'auto', threads: 1 }, limits: { jobs: 2 }, report: { enabled: false } });
    const c = container(shardPod(), 'shard');
    const n = Number(env(c, 'SHARDS'));
    const shard = (index: number) =>
      bash(script(c), { PATH: PATH_WITH(bin), JOB_COMPLETION_INDEX: String(index), SHARDS: String(n), DATE, FLOWKNN_CONFIG: cfg, HOSTNAME: `flowknn-shards-${DATE}-${index}` });

    // Locks as flowknn writes them. Here the hostname flowknn records is this machine's, not
    // the pod's: a lock naming the pod's hostname counts as another host's to flowknn, which
    // would stop with exit 3, as it would in the pod for a dead owner whose pid is alive again.
    const lockOf = (host: string) => `${JSON.stringify({ pid: process.pid, host, started: new Date().toISOString(), command: 'flowknn nightly' })}\n`;
    // Shard 1: its folder holds the lock of a killed pod of the same index.
    const lock1 = join(root, 'out', '.flowknn', DATE, 'shards', `1-of-${n}`, '.lock');
    await mkdir(dirname(lock1), { recursive: true });
    await writeFile(lock1, lockOf(`flowknn-shards-${DATE}-0`));
    // Shard 2: a lock held by a run on another host.
    const lock2 = join(root, 'out', '.flowknn', DATE, 'shards', `2-of-${n}`, '.lock');
    await mkdir(dirname(lock2), { recursive: true });
    await writeFile(lock2, lockOf('collector-7'));

    for (let index = 0; index < n; index++) {
      const r = await shard(index);
      expect(r.code, `shard ${index + 1}: ${r.stderr}`).toBe(index === 1 ? 3 : 0);
    }
    // Once that run is gone (its lock removed), the shard runs.
    await rm(lock2);
    const again = await shard(1);
    expect(again.code, again.stderr).toBe(0);

    // The merge, with the day's lock of a killed CronJob pod (all of them have one hostname).
    const planDir = join(root, 'plan');
    await mkdir(planDir, { recursive: true });
    await writeFile(join(planDir, 'date'), `${DATE}\n`);
    const host = cronPod().hostname!;
    await writeFile(join(root, 'out', '.flowknn', DATE, '.lock'), lockOf(host));
    const merge = await bash(script(container(cronPod(), 'merge')), { FLOWKNN_CONFIG: cfg, PLAN: planDir, PATH: PATH_WITH(bin), HOSTNAME: host });
    expect(merge.code, merge.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(root, 'out', DATE, 'summary.json'), 'utf8')) as { rows: number; inputs: { selected: number; ok: number; failed: number }; engine: { name: string; searches?: Record<string, { searches: number; queries: number }> } };
    expect(summary.inputs).toMatchObject({ selected: archive.files.length, ok: archive.files.length, failed: 0 });
    // auto with small nights: every shard's rows on the CPU, the shards' searches summed
    expect(summary.engine.name).toBe('cpu');
    expect(Object.keys(summary.engine.searches ?? {})).toEqual(['cpu']);
    expect(summary.engine.searches!.cpu!.queries).toBe(summary.rows);
    expect(summary.engine.searches!.cpu!.searches).toBeGreaterThanOrEqual(Math.min(n, 2));
  }, 300_000);
});

// ---------------------------------------------------------------------------------------------
// systemd (pipelines/systemd)

function unitFile(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/u.exec(line);
    if (s) {
      current = new Map();
      sections.set(s[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    current!.set(key, [...(current!.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

function setting(unit: Map<string, Map<string, string[]>>, section: string, key: string): string {
  const v = unit.get(section)?.get(key);
  if (!v) throw new Error(`no ${key}= in [${section}]`);
  return v[v.length - 1]!;
}

// In CI (.ci/run installs systemd) a missing systemd-analyze is a failure, not a skip.
const haveAnalyze = (() => {
  try {
    execFileSync('bash', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})() || process.env.CI === 'true';

describe('systemd units (pipelines/systemd)', () => {
  let service: Map<string, Map<string, string[]>>;
  let timer: Map<string, Map<string, string[]>>;
  let hostConfig: LoadedConfig;
  let configPath: string;

  beforeAll(async () => {
    service = unitFile(await readFile(join(SYSTEMD, 'flowknn-nightly.service'), 'utf8'));
    timer = unitFile(await readFile(join(SYSTEMD, 'flowknn-nightly.timer'), 'utf8'));
    configPath = setting(service, 'Service', 'ExecStart').split(/\s+/u)[setting(service, 'Service', 'ExecStart').split(/\s+/u).indexOf('--config') + 1]!;
    // The README installs pipelines/nightly.json (the collector-host example) there.
    hostConfig = parseNightlyConfig(await readFile(join(REPO_ROOT, 'pipelines/nightly.json'), 'utf8'), configPath);
  });

  it.skipIf(!haveAnalyze)(`pass systemd-analyze verify${haveAnalyze ? '' : ' (skipped: systemd-analyze is not installed)'}`, async () => {
    // verify checks that ExecStart's program exists and is executable: the units are copied with
    // the install folder (/opt/flowknn) replaced by this checkout, whose bin/flowknn.js it is.
    const dir = join(tmp, 'units');
    await mkdir(dir, { recursive: true });
    for (const f of ['flowknn-nightly.service', 'flowknn-nightly.timer', 'flowknn-watch.service']) {
      await writeFile(join(dir, f), (await readFile(join(SYSTEMD, f), 'utf8')).replaceAll('/opt/flowknn', REPO_ROOT));
    }
    const r = await new Promise<Ran>((res) => {
      execFile('systemd-analyze', ['verify', join(dir, 'flowknn-nightly.timer'), join(dir, 'flowknn-nightly.service'), join(dir, 'flowknn-watch.service')], (err, stdout, stderr) => res({ code: err ? 1 : 0, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    // verify only warns about an unknown key or a bad value ("..., ignoring") and exits 0.
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes(dir) || l.includes('flowknn-nightly') || l.includes('flowknn-watch'))).toEqual([]);
    const cal = execFileSync('systemd-analyze', ['calendar', setting(timer, 'Timer', 'OnCalendar')], { encoding: 'utf8' });
    expect(cal).toMatch(/Next elapse:/u);
  });

  it('the service runs the nightly job once, on the host config, resuming a killed run, as its own user', () => {
    expect(setting(service, 'Service', 'Type')).toBe('oneshot');
    expect(setting(service, 'Service', 'User')).not.toMatch(/^(root|0)$/u);
    const argv = setting(service, 'Service', 'ExecStart').split(/\s+/u);
    const install = setting(service, 'Service', 'WorkingDirectory');
    expect(argv[0]).toBe(join(install, 'bin/flowknn.js'));
    expect(argv.slice(1)).toEqual(['nightly', '--config', configPath, '--resume']);
    // A crash is retried, and --resume makes that safe; exit 1 and 2 would only fail again.
    expect(setting(service, 'Service', 'Restart')).toBe('on-failure');
    expect(setting(service, 'Service', 'RestartPreventExitStatus').split(/\s+/u).sort()).toEqual(['1', '2']);
    // Exit 1 is left a failure (no SuccessExitStatus=1), so that it shows and OnFailure= hooks fire.
    expect(service.get('Service')?.get('SuccessExitStatus')?.join(' ') ?? '').not.toMatch(/\b1\b/u);
  });

  it('the service can write the outputs and nothing else: not the archive, not the models', () => {
    expect(setting(service, 'Service', 'NoNewPrivileges')).toBe('yes');
    expect(setting(service, 'Service', 'ProtectSystem')).toBe('strict');
    expect(setting(service, 'Service', 'PrivateTmp')).toBe('yes');
    const writable = (service.get('Service')?.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/u)).map((p) => p.replace(/^-/u, ''));
    const canWrite = (p: string) => writable.some((w) => isUnder(p, w));
    expect(canWrite(hostConfig.paths.output), hostConfig.paths.output).toBe(true);
    expect(canWrite(hostConfig.paths.archive), hostConfig.paths.archive).toBe(false);
    expect(canWrite(hostConfig.paths.registry ?? hostConfig.paths.model!)).toBe(false);
    expect(canWrite(resolve(configPath))).toBe(false);
    // The job waits for the archive and the outputs when they are mounts (NFS, say).
    const mounts = (service.get('Unit')?.get('RequiresMountsFor') ?? []).flatMap((v) => v.split(/\s+/u));
    for (const p of [hostConfig.paths.archive, hostConfig.paths.output]) expect(mounts.some((m) => isUnder(p, m)), p).toBe(true);
  });

  it('the watch service follows the archive with the nightly config, restarted after a crash, with the same sandbox', async () => {
    const watch = unitFile(await readFile(join(SYSTEMD, 'flowknn-watch.service'), 'utf8'));
    const argv = setting(watch, 'Service', 'ExecStart').split(/\s+/u);
    expect(argv[0]).toBe(join(setting(watch, 'Service', 'WorkingDirectory'), 'bin/flowknn.js'));
    expect(argv.slice(1)).toEqual(['watch', '--config', configPath]);
    expect(setting(watch, 'Service', 'User')).toBe(setting(service, 'Service', 'User'));
    expect(setting(watch, 'Service', 'Restart')).toBe('on-failure');
    // a config error would fail again the same way; a crash or exit 3 is restarted
    expect(setting(watch, 'Service', 'RestartPreventExitStatus').split(/\s+/u)).toEqual(['2']);
    expect(watch.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
    // every hardening setting of the nightly service, with the same value, and no other path to write
    const hardening = [...service.get('Service')!.entries()].filter(([k]) => /^(NoNewPrivileges|Protect|Private|Restrict|LockPersonality|SystemCallArchitectures|CapabilityBoundingSet|ReadWritePaths|UMask)/u.test(k));
    expect(hardening.length).toBeGreaterThan(10);
    for (const [key, value] of hardening) expect(watch.get('Service')?.get(key), key).toEqual(value);
    expect(watch.get('Unit')?.get('RequiresMountsFor')).toEqual(service.get('Unit')?.get('RequiresMountsFor'));
  });

  it('the timer starts it after the archive\'s day is over, early enough that "yesterday" is that day all year', () => {
    expect(setting(timer, 'Timer', 'Persistent')).toBe('true');
    const m = /^\*-\*-\* (\d\d):(\d\d)(?::(\d\d))?(?: (\S+))?$/u.exec(setting(timer, 'Timer', 'OnCalendar'));
    expect(m, 'OnCalendar=*-*-* HH:MM[:SS] [ZONE]').not.toBeNull();
    const zone = m![4] ?? 'local';
    expect(zone, 'the timer runs on the archive\'s clock').toBe(hostConfig.config.archive.timeZone);
    const delay = seconds(setting(timer, 'Timer', 'RandomizedDelaySec'));
    const at = Number(m![1]) * 3600 + Number(m![2]) * 60 + Number(m![3] ?? 0);
    expect(at, 'after the last five-minute file of the day was closed').toBeGreaterThanOrEqual(5 * 60);
    // flowknn's default day (its own function) is the calendar day before the start, on the
    // archive's clock. Every start the timer may make (its time plus up to the random delay), on
    // every day of a year, in this zone and two with daylight saving time, must give the day before.
    for (const z of [hostConfig.config.archive.timeZone === 'local' ? 'UTC' : hostConfig.config.archive.timeZone, 'Europe/Berlin', 'America/New_York']) {
      for (let day = Date.UTC(2026, 0, 1); day < Date.UTC(2027, 0, 1); day += 86_400_000) {
        for (const extra of [0, delay]) {
          const start = instantAt(day, at + extra, z);
          const expected = new Date(day - 86_400_000).toISOString().slice(0, 10);
          expect(yesterday(z, start), `${z}, start ${formatInZone(start, z)}`).toBe(expected);
        }
      }
    }
  });
});

/** The instant at which the wall clock of `zone` shows `secondOfDay` on the calendar day `dayUtc` (00:00 UTC of it). */
function instantAt(dayUtc: number, secondOfDay: number, zone: string): number {
  const d = new Date(dayUtc);
  return zonedToEpoch(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), Math.floor(secondOfDay / 3600), Math.floor(secondOfDay / 60) % 60, secondOfDay % 60, zone);
}
