import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';

/**
 * The patch guide's third upstream fix (docs/scenarios.md "Patch guide"):
 * B8, 0d5fd7a9323c, as a patch of pci_dev_reset_iommu_prepare() — the
 * function the commit changed. The pre-fix check WARNs and refuses the
 * nested prepare of a CXL bus reset; the fixed kernel is clean; the
 * finding's replay reproduces it.
 */

const EXAMPLE = path.resolve('scenarios/examples/patch-reset-nesting.ts');
const out = (): string => mkdtempSync(path.join(tmpdir(), 'patch-b8-'));

interface RunJson {
  readonly findings: readonly { readonly kind: string; readonly replay: string; readonly report: string; readonly signature: string }[];
  readonly unusedPatches?: readonly unknown[];
}

describe('B8 as a patch of pci_dev_reset_iommu_prepare', () => {
  it('the pre-fix prepare WARNs on the nested prepare of a CXL bus reset; upstream is clean; the replay reproduces', async () => {
    const bad = await cli('run', EXAMPLE, '--variant', 'reset-prepare=pre-fix', '--schedules', '3', '--seed', '2', '--json', '--out', out());
    expect(bad.code, bad.err).toBe(0);
    const b = bad.json as RunJson;
    expect(b.findings.map((f) => f.kind)).toEqual(['kernel-warn']);
    const warn = b.findings[0]!;
    expect(warn.signature).toMatch(/^kernel-warn\|iommu-core\.pci_dev_reset_iommu_prepare/);
    expect(warn.report).toContain('WARN_ON(group->resetting_domain)');
    // the nested prepare: pci_reset_bus_function inside cxl_reset_bus_function, inside the outer reset
    expect(warn.report).toMatch(/pci_dev_reset_iommu_prepare\n\s*pci_reset_bus_function\n\s*cxl_reset_bus_function\n/);
    expect(b.unusedPatches).toEqual([]);

    const good = await cli('run', EXAMPLE, '--variant', 'reset-prepare=upstream', '--schedules', '3', '--seed', '2', '--json', '--out', out());
    expect(good.code, good.err).toBe(0);
    expect((good.json as RunJson).findings).toEqual([]);

    const replay = await cli('replay', warn.replay, '--json');
    expect(replay.code, replay.err).toBe(0);
    expect((replay.json as { reproduced: boolean }).reproduced).toBe(true);
  }, 120_000);
});
