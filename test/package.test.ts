import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installPacked } from './helpers/pack.ts';
import type { Installed } from './helpers/pack.ts';

/**
 * The package as a user installs it: `npm pack`, the tarball installed into
 * a fresh project (test/helpers/pack.ts), then the installed command, the
 * three entry points from a TypeScript file compiled with tsc, and the
 * vitest matchers in a vitest run of the user's project.
 */
let user: Installed;

beforeAll(() => {
  user = installPacked({ withDevTools: true });
}, 600_000);

/** This process's environment without the outer vitest's variables (the user's vitest run is a run of its own). */
function outsideVitest(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST'));
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

describe('the packed and installed package', () => {
  it('ships dist/ with .d.ts files and no TypeScript sources or tests; exports its three entry points', () => {
    const shipped = files(user.pkgDir);
    expect(shipped).toContain(path.join('dist', 'api', 'index.js'));
    expect(shipped).toContain(path.join('dist', 'api', 'index.d.ts'));
    expect(shipped).toContain(path.join('dist', 'cli', 'bin.js'));
    expect(shipped.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(shipped.filter((f) => f.startsWith('test') || f.startsWith('.ci') || f.startsWith('tsconfig'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(path.join(user.pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './patch', './vitest']));
  });

  it('(a) npx iommu-lab --version, and one run through the installed command (compiled code, worker threads too)', () => {
    const pkg = JSON.parse(readFileSync(path.join(user.pkgDir, 'package.json'), 'utf8')) as { version: string };
    const v = user.cli(['--version']);
    expect([v.status, v.stdout.trim()]).toEqual([0, pkg.version]);
    const out = path.join(user.dir, 'out');
    const r = user.cli(['run', 'runtime-abba', '--variant', 'order=abba', '--schedules', '20', '--host', 'workers', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { matched: boolean; findings: { kind: string; replay: string }[] };
    expect(doc.matched).toBe(true);
    expect(doc.findings.map((f) => f.kind).sort()).toEqual(['deadlock', 'lock-order-inversion']);
    expect(existsSync(doc.findings[0]!.replay)).toBe(true);
    const bad = user.cli(['run', 'runtime-abba', '--bogus']);
    expect(bad.status).toBe(2);
  }, 300_000);

  it('(b) a TypeScript file importing iommu-lab, iommu-lab/patch and iommu-lab/vitest type-checks with tsc and runs', () => {
    const src = path.join(user.dir, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'use.ts'), `
import { run, replay, listScenarios, validateScenario } from 'iommu-lab';
import type { RunResult, FindingKind } from 'iommu-lab';
import type { Patch, IK } from 'iommu-lab/patch';
import { groupOfDevice, underGroup } from 'iommu-lab/patch';
import type { iommuLabMatchers } from 'iommu-lab/vitest';

const kind: FindingKind = 'deadlock';
// a patch written against the kernel context, typed by the package
const patch: Patch = {
  name: 'plain-read', actor: 'iommu-core', when: { 'get-domain': 'plain-read' },
  handlers: {
    async iommu_get_domain_for_dev(k: IK, { dev }: { dev: string }): Promise<string | null> {
      const g = groupOfDevice(k, dev);
      return g === null ? null : k.read(g, 'domain', underGroup(g.id));
    },
  },
};
const matcher: keyof typeof iommuLabMatchers = 'toReplay';
const r: RunResult = await run('runtime-abba', { variants: { order: 'abba' }, schedules: 20 });
const first = r.findings[0];
if (first === undefined) throw new Error('no finding');
const again = await replay(first);
const bad = validateScenario({ name: 'x', topology: {}, tasks: [{ name: 't', ops: [{ op: 'no.such' }] }] });
console.log(JSON.stringify({ scenarios: listScenarios().length, found: r.findings.map((f) => f.kind).sort(), kind, reproduced: again.reproduced, patch: patch.name, matcher, bad: bad.valid ? null : bad.where }));
`);
    writeFileSync(path.join(user.dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2023', module: 'nodenext', strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, skipLibCheck: false, types: ['node'], rootDir: 'src', outDir: 'build' },
      include: ['src'],
    }));
    const tsc = spawnSync(process.execPath, [path.join(user.dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: user.dir, encoding: 'utf8', timeout: 300_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    const ran = spawnSync(process.execPath, [path.join('build', 'use.js')], { cwd: user.dir, encoding: 'utf8', timeout: 120_000 });
    expect(ran.stderr).toBe('');
    const got = JSON.parse(ran.stdout) as Record<string, unknown>;
    expect(got).toMatchObject({ found: ['deadlock', 'lock-order-inversion'], reproduced: true, patch: 'plain-read', matcher: 'toReplay' });
    expect(got.scenarios).toBeGreaterThanOrEqual(12);
    expect(got.bad).toEqual(expect.stringContaining('tasks[0].ops[0]'));
  }, 300_000);

  it('(c) a vitest file in the user\'s project using toFind, toBeClean and toReplay passes (and a wrong expectation fails)', () => {
    const dir = path.join(user.dir, 'spec');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'lab.test.ts'), `
import { describe, expect, it } from 'vitest';
import 'iommu-lab/vitest';
import { run } from 'iommu-lab';

describe('iommu-lab matchers', () => {
  it('the ABBA variant deadlocks, and the deadlock replays', async () => {
    await expect(run('runtime-abba', { variants: { order: 'abba' }, schedules: 20 })).resolves.toFind('deadlock');
    await expect(await run('runtime-abba', { variants: { order: 'abba' }, schedules: 20 })).toReplay();
  });
  it('the ordered variant is clean', async () => {
    const r = await run('runtime-abba', { variants: { order: 'ordered' }, schedules: 20 });
    expect(r).toBeClean();
    expect(r).not.toFind('deadlock');
    await expect(expect(r).toReplay()).rejects.toThrow(/the run was clean/);
  });
  it('a wrong expectation fails with what was found', async () => {
    const r = await run('runtime-abba', { variants: { order: 'abba' }, schedules: 20 });
    expect(() => expect(r).toFind('use-after-free')).toThrow(/expected a use-after-free, found: .*deadlock/i);
    expect(() => expect(r).toBeClean()).toThrow(/expected a clean run/);
  });
});
`);
    writeFileSync(path.join(user.dir, 'vitest.config.mjs'), "export default { test: { include: ['spec/**/*.test.ts'] } };\n");
    const v = spawnSync(process.execPath, [path.join(user.dir, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], { cwd: user.dir, encoding: 'utf8', timeout: 300_000, env: { ...outsideVitest(), CI: 'true', NO_COLOR: '1' } });
    expect(v.stdout).toMatch(/Tests\s+3 passed \(3\)/);
    expect(v.status).toBe(0);
  }, 300_000);
});
