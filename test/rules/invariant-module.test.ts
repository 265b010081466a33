import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { compare } from '../../api/index.ts';
import example from '../../scenarios/examples/rule-rmrr-relaxable.ts';

const MODULE = path.resolve(import.meta.dirname, '../../scenarios/examples/rule-rmrr-relaxable.ts');

interface Row {
  readonly variants: Record<string, string>;
  readonly matched: boolean;
  readonly rules?: readonly string[];
  readonly findings: readonly { readonly kind: string; readonly signature: string; readonly report: string }[];
}

const sigs = (r: Row): string[] => r.findings.map((f) => f.signature);
const byPolicy = (rows: readonly Row[], p: string): Row => rows.find((r) => r.variants['rmrr-policy'] === p) as Row;

/**
 * Issue 14 items 5 and 7 end to end: a TS scenario module replaces a §8.2
 * invariant through its `rules`, and the run reports no violation of the old
 * rule and does report the new one (scenarios/examples/rule-rmrr-relaxable.ts).
 */
describe('an invariant replaced by a TS scenario module', () => {
  it('the old rule\'s violation is gone, the new rule reports the device it still forbids', async () => {
    const r = await cli('compare', MODULE, '--schedules', '4', '--seed', '3', '--json');
    expect(r.code, r.err).toBe(0);
    const rows = (r.json as { rows: Row[] }).rows;
    const upstream = byPolicy(rows, 'upstream');
    const relaxable = byPolicy(rows, 'relaxable');
    expect(sigs(upstream)).toEqual(['invariant-violation:require-direct-blocked:iommu-core.__iommu_attach_device']);
    expect(upstream.rules ?? []).toEqual([]);
    // the replacement: the old id never appears, the new rule's does, and it names the non-relaxable device
    expect(sigs(relaxable).filter((s) => s.includes(':require-direct-blocked:'))).toEqual([]);
    expect(sigs(relaxable)).toEqual(['invariant-violation:require-direct-blocked-unless-relaxable:iommu-core.__iommu_attach_device']);
    const report = relaxable.findings[0]!.report;
    expect(report).toContain('invariant violated: require-direct-blocked-unless-relaxable');
    expect(report).toContain('0000:00:17.0: require_direct set, hardware translates its RID through vtd0.blocked_domain');
    expect(relaxable.rules).toEqual([expect.stringContaining('invariant require-direct-blocked replaced by require-direct-blocked-unless-relaxable')]);
  });

  it('the relaxable device alone: the upstream rule reports it, the replaced rule does not', async () => {
    const usbOnly = { ...example, name: 'example-rule-rmrr-relaxable-usb', tasks: example.tasks.filter((t) => t.name === 'reset-usb'), expect: [] };
    const r = await compare(usbOnly, { schedules: 4, seed: 3 });
    const rows = r.rows as unknown as Row[];
    expect(sigs(byPolicy(rows, 'upstream'))).toEqual(['invariant-violation:require-direct-blocked:iommu-core.__iommu_attach_device']);
    expect(byPolicy(rows, 'upstream').findings[0]!.report).toContain('0000:00:14.0: require_direct set');
    expect(sigs(byPolicy(rows, 'relaxable'))).toEqual([]);
  });
});
