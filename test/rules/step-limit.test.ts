import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'iommu-lab-steps-'));

/** Issue 15 item 6: a schedule cut short by --max-steps is an outcome, not a clean run. */
describe('step limit', () => {
  it('every schedule truncated: JSON truncated = schedules, text says so, exit 1', async () => {
    // the ordered variant is clean when it runs to its end; 3 steps cannot finish it
    const j = await cli('run', 'runtime-abba', '--variant', 'order=ordered', '--schedules', '4', '--max-steps', '3', '--out', tmp(), '--json');
    expect(j.code).toBe(1);
    expect(j.json).toMatchObject({ schedules: 4, truncated: 4, findings: [] });
    const t = await cli('run', 'runtime-abba', '--variant', 'order=ordered', '--schedules', '4', '--max-steps', '3', '--out', tmp());
    expect(t.code).toBe(1);
    expect(t.out).toContain('truncated: 4 of 4 schedules hit the step limit');
  });

  it('an untruncated run says truncated: 0 and keeps its verdict', async () => {
    const j = await cli('run', 'runtime-abba', '--variant', 'order=ordered', '--schedules', '4', '--out', tmp(), '--json');
    expect(j.code).toBe(0);
    expect(j.json).toMatchObject({ schedules: 4, truncated: 0 });
  });

  it('compare marks a truncated row and exits 1', async () => {
    const t = await cli('compare', 'runtime-abba', '--schedules', '3', '--max-steps', '3', '--out', tmp());
    expect(t.code).toBe(1);
    expect(t.out).toMatch(/order=ordered .*3 \(3 truncated\).*TRUNCATED/);
  });

  it('--max-steps must be a positive integer (exit 2)', async () => {
    const r = await cli('run', 'runtime-abba', '--max-steps', '0', '--out', tmp());
    expect(r.code).toBe(2);
    expect(r.err).toContain('--max-steps');
  });
});
