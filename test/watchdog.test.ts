import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';

/**
 * The watchdogs for a user's code (issue 17, Build 4; docs/runtime.md
 * "Watchdogs"): a scenario module's import runs first on a worker thread
 * with a heartbeat, and the patch functions of a scenario run on worker
 * threads whose steps the main thread times. Each case ends with the
 * documented outcome: exit 2 naming the file (import), or an `actor-stuck`
 * finding naming the patched function with exit 1 (patch), in each host and
 * mode. A watchdog that failed would hang the case until vitest's timeout.
 */
const FIX = path.resolve('test/fixtures/watchdog');
const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-wd-'));

interface RunJson { findings: { kind: string; title: string; report: string; replay: string }[] }

describe('the import watchdog', () => {
  it('a module whose top-level code loops: exit 2, "did not finish loading in 1 s"', async () => {
    const r = await cli('run', path.join(FIX, 'import-loop.ts'), '--hang', '1');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain(`${path.join(FIX, 'import-loop.ts')}: the module did not finish loading in 1 s`);
    expect(r.err).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('a module whose top-level await never settles: exit 2, not a silent exit 0', async () => {
    const r = await cli('run', path.join(FIX, 'import-tla.mts'), '--hang', '1');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('its top-level await never settles');
  }, 60_000);

  it('a module whose default export is a getter that loops: exit 2', async () => {
    const dir = tmp();
    const mod = path.join(dir, 'default-getter.mjs');
    writeFileSync(mod, 'let n = 0;\nconst m = {};\nObject.defineProperty(m, "default", { get() { for (;;) n++; } });\nexport default m;\n');
    const r = await cli('run', mod, '--hang', '1');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('did not finish loading in 1 s');
  }, 60_000);

  it('a module that throws a non-Error at import: exit 2 with what it threw', async () => {
    const file = path.join(tmp(), 'throws.mjs');
    writeFileSync(file, 'throw 42;\n');
    const r = await cli('run', file, '--hang', '1');
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain('it threw 42 (not an Error)');
  }, 60_000);
});

describe('the patch watchdog', () => {
  const cases = [
    ['controlled, inline host (the patched actor runs guarded on a worker)', ['--host', 'inline', '--schedules', '20']],
    ['controlled, workers host', ['--host', 'workers', '--schedules', '20']],
    ['free mode', ['--mode', 'free', '--schedules', '3']],
  ] as const;
  for (const [name, flags] of cases) {
    it(`${name}: a patch that loops is an actor-stuck finding naming it, exit 1, and the run ends`, async () => {
      const out = tmp();
      const r = await cli('run', path.join(FIX, 'patch-loop.ts'), '--variant', 'get-domain=sync-loop', '--hang', '1', ...flags, '--out', out, '--json');
      expect(r.code, r.err).toBe(1);
      const doc = r.json as RunJson & { executions?: number };
      expect(doc.findings.map((f) => f.kind)).toEqual(['actor-stuck']);
      const f = doc.findings[0]!;
      expect(f.title).toBe('actor-stuck in iommu-core.iommu_get_domain_for_dev');
      expect(f.report).toContain('iommu_get_domain_for_dev() (a patched function) did not return in 1.0 s');
      // nothing found is lost: the finding was written as it was found
      expect(readFileSync(path.join(path.dirname(f.replay), 'report.txt'), 'utf8')).toContain('stuck in iommu_get_domain_for_dev');
    }, 120_000);
  }

  it('the upstream variant of the same module (no patch selected) is clean', async () => {
    const r = await cli('run', path.join(FIX, 'patch-loop.ts'), '--variant', 'get-domain=upstream', '--schedules', '20', '--out', tmp(), '--json');
    expect(r.code, r.err).toBe(0);
    expect((r.json as RunJson).findings).toEqual([]);
  }, 120_000);

  it('the replay of an actor-stuck finding is stopped by the watchdog again: reproduced', async () => {
    const out = tmp();
    const r = await cli('run', path.join(FIX, 'patch-loop.ts'), '--variant', 'get-domain=sync-loop', '--hang', '1', '--schedules', '5', '--out', out, '--json');
    const f = (r.json as RunJson).findings[0]!;
    const rep = await cli('replay', f.replay, '--hang', '1', '--json');
    expect(rep.code, rep.err).toBe(0);
    expect((rep.json as { reproduced: boolean }).reproduced).toBe(true);
  }, 120_000);
});
