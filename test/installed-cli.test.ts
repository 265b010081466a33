import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, installPacked } from './helpers/pack.ts';
import type { Installed } from './helpers/pack.ts';

/**
 * Every command of the CLI (CLI.md "Commands", and whatever `--help` lists)
 * through the command as a user installs it (issue 17, Build 8): the package
 * packed and installed into a fresh project (test/helpers/pack.ts, once for
 * this file), `node_modules/.bin/iommu-lab` run as a program. Each command
 * once with a small good input and once with a bad one (exit 2, one clear
 * line, no stack trace), so a path that only works from the sources cannot
 * land again. Then `replay`, `shrink` and `report` of a stress finding, a
 * merged fuzz finding and a TS-module finding, run with the working
 * directory `/` (Must show: replays work from anywhere).
 */
let user: Installed;
let bin: string;

beforeAll(() => {
  user = installPacked();
  bin = path.join(user.dir, 'node_modules', '.bin', 'iommu-lab');
  // the README's patch example, as a user's own module importing iommu-lab/patch
  copyFileSync(path.join(REPO, 'scenarios', 'examples', 'patch-get-domain.ts'), path.join(user.dir, 'patch-get-domain.ts'));
}, 600_000);

interface Ran { readonly code: number | null; readonly out: string; readonly err: string; readonly args: string }

/** The installed command, in `cwd` (default: the user's project). */
function iommuLab(args: readonly string[], cwd: string = user.dir): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err, args: args.join(' ') }));
  });
}

function json<T>(r: Ran): T {
  try {
    return JSON.parse(r.out) as T;
  } catch {
    throw new Error(`iommu-lab ${r.args}: stdout is not one JSON document (exit ${r.code})\n${r.out.slice(0, 400)}\n${r.err.slice(-800)}`);
  }
}

/** A refused input: exit 2, a message matching `msg`, no JavaScript stack in it. */
function refused(r: Ran, msg: RegExp): void {
  expect(r.code, `${r.args}\n${r.err}`).toBe(2);
  expect(r.err, r.args).toMatch(msg);
  expect(r.err, r.args).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(r.out, r.args).toBe('');
}

const out = (name: string): string => path.join(user.dir, 'out', name);

interface Finding { readonly kind: string; readonly signature: string; readonly replay: string }

/** Replay, shrink and report of `replayFile`, each run from `/`: the finding reproduces every time. */
async function fromRoot(replayFile: string, signature: string): Promise<void> {
  expect(path.isAbsolute(replayFile)).toBe(true);
  const rep = await iommuLab(['replay', replayFile, '--json'], '/');
  expect(rep.code, rep.err).toBe(0);
  const r = json<{ reproduced: boolean; findings: Finding[] }>(rep);
  expect(r.reproduced).toBe(true);
  expect(r.findings.map((f) => f.signature)).toContain(signature);

  const shrunkFile = replayFile.replace(/\.json$/, '.from-root.json');
  const sh = await iommuLab(['shrink', replayFile, '--schedules', '5', '--out', shrunkFile, '--json'], '/');
  expect(sh.code, sh.err).toBe(0);
  const s = json<{ signature: string; out: string; before: { ops: number }; after: { ops: number } }>(sh);
  expect(s.signature).toBe(signature);
  expect(s.after.ops).toBeLessThanOrEqual(s.before.ops);
  expect(existsSync(shrunkFile)).toBe(true);
  const again = json<{ reproduced: boolean }>(await iommuLab(['replay', shrunkFile, '--json'], '/'));
  expect(again.reproduced).toBe(true);

  const rp = await iommuLab(['report', replayFile, '--format', 'md'], '/');
  expect(rp.code, rp.err).toBe(0);
  expect(rp.out).toMatch(/^#/m);
  expect(rp.out).toContain(signature.split(/[|:]/)[0]);
}

describe('every command through the installed iommu-lab', () => {
  it('--help lists exactly the commands this file covers, and --version the package version', async () => {
    const help = await iommuLab(['--help']);
    expect(help.code).toBe(0);
    const listed = [...help.out.split(/^Commands:$/m)[1]!.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...COVERED].sort());
    const v = await iommuLab(['--version']);
    const pkg = JSON.parse(readFileSync(path.join(user.pkgDir, 'package.json'), 'utf8')) as { version: string };
    expect([v.code, v.out.trim()]).toEqual([0, pkg.version]);
    refused(await iommuLab(['frobnicate']), /unknown command/);
  }, 60_000);

  it('list, show, ops, functions, schema: good and bad', async () => {
    const [list, show, ops, fns, schema, ...bad] = await Promise.all([
      iommuLab(['list', '--json']),
      iommuLab(['show', 'seed-004-domain-alloc-vs-hot-remove', '--json']),
      iommuLab(['ops', '--json']),
      iommuLab(['functions', '--actor', 'iommu-core', '--json']),
      iommuLab(['schema', 'replay']),
      iommuLab(['list', '--bogus']),
      iommuLab(['show', 'seed-004-domain-alloc']),
      iommuLab(['ops', 'extra']),
      iommuLab(['functions', '--actor', 'iommu-kore']),
      iommuLab(['schema', 'recipe']),
    ]);
    expect(json<{ scenarios: { name: string }[] }>(list).scenarios.map((s) => s.name)).toContain('seed-004-domain-alloc-vs-hot-remove');
    expect(json<{ name: string }>(show).name).toBe('seed-004-domain-alloc-vs-hot-remove');
    expect(JSON.stringify(json<unknown>(ops))).toContain('pci.hot_remove');
    expect(JSON.stringify(json<unknown>(fns))).toContain('iommu_get_domain_for_dev');
    expect(json<{ $schema: string }>(schema).$schema).toMatch(/json-schema/);
    for (const r of [list, show, ops, fns, schema]) expect(r.code, `${r.args}\n${r.err}`).toBe(0);
    const [l, s, o, f, sc] = bad as [Ran, Ran, Ran, Ran, Ran];
    refused(l, /unknown flag --bogus/);
    refused(s, /unknown scenario.*did you mean/s);
    refused(o, /"ops" takes no arguments/);
    refused(f, /iommu-kore/);
    refused(sc, /recipe/);
  }, 120_000);

  it('run (a TS module of the user\'s), compare, selftest, conformance: good and bad', async () => {
    const [run, compare, selftest, conf, ...bad] = await Promise.all([
      iommuLab(['run', './patch-get-domain.ts', '--variant', 'get-domain=plain-read', '--schedules', '50', '--seed', '1', '--out', out('ts'), '--json']),
      iommuLab(['compare', 'runtime-abba', '--schedules', '30', '--json']),
      iommuLab(['selftest', 'locking', '--schedules', '1', '--json']),
      iommuLab(['conformance', '--unit', 'vtd@7.0', '--json']),
      iommuLab(['run', './patch-get-domain.ts', '--variant', 'get-domain=plain-reed']),
      iommuLab(['compare', 'runtime-abba', '--schedules', 'many']),
      iommuLab(['selftest', 'paging']),
      iommuLab(['conformance', '--unit', 'vtd@99.0']),
    ]);
    expect(run.code, run.err).toBe(0);
    const r = json<{ matched: boolean; findings: Finding[] }>(run);
    expect(r.findings.map((f) => f.kind)).toEqual(['unguarded-access']);
    tsFinding = r.findings[0]!;
    expect(compare.code, compare.err).toBe(0);
    expect(json<{ rows: unknown[] }>(compare).rows.length).toBe(2);
    expect(selftest.code, selftest.err).toBe(0);
    expect(json<{ cases: { pass: boolean }[] }>(selftest).cases.filter((c) => !c.pass)).toEqual([]);
    expect(conf.code, conf.err).toBe(0);
    expect(json<{ units: { unit: string }[] }>(conf).units.map((u) => u.unit)).toEqual(['vtd@7.0']);
    const [rb, cb, sb, fb] = bad as [Ran, Ran, Ran, Ran];
    refused(rb, /unknown value "plain-reed" for variant axis "get-domain"/);
    refused(cb, /--schedules/);
    refused(sb, /paging/);
    refused(fb, /vtd@99\.0/);
  }, 300_000);

  it('stress, fuzz (two shards) and merge: good and bad', async () => {
    const fuzz = (shard: string, dir: string): Promise<Ran> =>
      iommuLab(['fuzz', '--time', '6', '--seed', '7', '--shard', shard, '--jobs', '1', '--schedules', '4', '--shrink-time', '1', '--out', dir, '--json']);
    const [stress, fa, fb, ...bad] = await Promise.all([
      iommuLab(['stress', '--devices', '24', '--units', '2', '--tasks', '8', '--time', '5', '--rounds', '2', '--seed', '1', '--fixed',
        '--variant', 'dma-owner=viable-scan-unlocked', '--out', out('stress'), '--json']),
      fuzz('1/2', out('fuzz-a')),
      fuzz('2/2', out('fuzz-b')),
      iommuLab(['stress', '--devices', 'many']),
      iommuLab(['fuzz', '--shard', '3/2', '--out', out('fuzz-bad')]),
      iommuLab(['merge', out('nowhere'), '--out', out('merged-bad')]),
    ]);
    // findings the scenario did not expect: exit 1
    expect(stress.code, stress.err).toBe(1);
    const s = json<{ findings: (Finding & { reproduced: boolean })[] }>(stress);
    stressFinding = s.findings.find((f) => f.signature === 'unguarded-access|device.driver|driver-core.dev_driver_snapshot');
    expect(stressFinding, JSON.stringify(s.findings.map((f) => f.signature))).toBeDefined();
    for (const r of [fa, fb]) expect([1, 0], r.err).toContain(r.code);
    const merge = await iommuLab(['merge', out('fuzz-a'), out('fuzz-b'), '--out', out('merged'), '--json']);
    expect([0, 1], merge.err).toContain(merge.code);
    const m = json<{ findings: Finding[] }>(merge);
    const both = new Set([...json<{ findings: Finding[] }>(fa).findings, ...json<{ findings: Finding[] }>(fb).findings].map((f) => f.signature));
    expect(m.findings.map((f) => f.signature).sort()).toEqual([...both].sort());
    expect(m.findings.length).toBeGreaterThan(0);
    // the first shard's finding directories come over whole (shrunk replays included: --shrink-time 1 above)
    for (const f of json<{ findings: Finding[] }>(fa).findings) {
      const merged = m.findings.find((x) => x.signature === f.signature)!;
      expect(readdirSync(path.dirname(merged.replay)), f.signature).toEqual(expect.arrayContaining(readdirSync(path.dirname(f.replay))));
    }
    fuzzFinding = m.findings[0]!;
    expect(fuzzFinding.replay.startsWith(out('merged'))).toBe(true);
    const [sb, fbad, mb] = bad as [Ran, Ran, Ran];
    refused(sb, /--devices must be an integer/);
    refused(fbad, /--shard/);
    refused(mb, /nowhere/);
  }, 300_000);

  it('bench --quick --json (its stress part spawns the installed CLI): good and bad', async () => {
    const [bench, bad] = await Promise.all([iommuLab(['bench', '--quick', '--json']), iommuLab(['bench', '--slow'])]);
    expect(bench.code, bench.err.slice(-2000)).toBe(0);
    const b = json<{ machine: { cpus: number }; results: Record<string, { value: number }>; ratios: Record<string, number> }>(bench);
    expect(b.machine.cpus).toBeGreaterThan(0);
    expect(b.results['stress.messagesPerSec']?.value).toBeGreaterThan(0);
    // the rotation floor's 16 echo workers start from the installed dist/ as the actors' do
    expect(b.results['runtime.raw.rotationRoundTripsPerSec']?.value).toBeGreaterThan(0);
    expect(b.ratios.workersVsRawRotation).toBeGreaterThan(0);
    refused(bad, /unknown flag --slow/);
  }, 600_000);

  describe('replay, shrink and report from / (paths relative to the replay file)', () => {
    it('a TS-module finding', async () => {
      await fromRoot(need(tsFinding).replay, need(tsFinding).signature);
      refused(await iommuLab(['replay', '/nonexistent/replay.json'], '/'), /replay\.json/);
      refused(await iommuLab(['report', need(tsFinding).replay, '--format', 'pdf'], '/'), /--format/);
    }, 300_000);
    it('a stress finding', async () => {
      await fromRoot(need(stressFinding).replay, need(stressFinding).signature);
      refused(await iommuLab(['shrink', need(stressFinding).replay, '--schedules', 'many'], '/'), /--schedules must be an integer/);
    }, 300_000);
    it('a merged fuzz finding', async () => {
      await fromRoot(need(fuzzFinding).replay, need(fuzzFinding).signature);
    }, 300_000);
  });
});

/** The commands this file runs (compared with `--help` above, so a new command needs a case here). */
const COVERED = ['list', 'show', 'ops', 'functions', 'run', 'compare', 'replay', 'shrink', 'report', 'selftest', 'conformance', 'bench', 'fuzz', 'merge', 'stress', 'schema'];

let tsFinding: Finding | undefined;
let stressFinding: Finding | undefined;
let fuzzFinding: Finding | undefined;

function need(f: Finding | undefined): Finding {
  if (f === undefined) throw new Error('the test that makes this finding failed');
  return f;
}
