import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import type { CommandIo } from '../cli/io.ts';

/**
 * The built-in seed scenarios meet their expectations under `compare`
 * (default strategy, pinned seed, a budget small enough for the suite): the
 * buggy design shows its finding kinds exactly, the design that landed is
 * clean.
 */
describe('seed scenarios under compare --all', () => {
  it('every variant row matches its expectation', async () => {
    let json: unknown;
    const io: CommandIo = { out: () => {}, err: () => {}, json: (d) => void (json = JSON.parse(JSON.stringify(d))) };
    const out = mkdtempSync(path.join(tmpdir(), 'iommu-lab-seeds-'));
    const code = await main(['compare', '--all', '--schedules', '300', '--seed', '1', '--out', out, '--json'], io);
    const rows = (json as { rows: { scenario: string; variants: Record<string, string>; matched: boolean; expected: string[] | null; findings: { kind: string }[] }[] }).rows;
    const bad = rows.filter((r) => !r.matched).map((r) => `${r.scenario} ${JSON.stringify(r.variants)}: expected ${JSON.stringify(r.expected)}, found ${JSON.stringify(r.findings.map((f) => f.kind))}`);
    expect(bad).toEqual([]);
    expect(rows.filter((r) => r.scenario.startsWith('seed-')).length).toBeGreaterThanOrEqual(16);
    expect(code).toBe(0);
  }, 120_000);
});
