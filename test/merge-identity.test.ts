import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeOutputs } from '../fuzz/merge.ts';
import { InputError } from '../runtime/input-error.ts';

/** merge refuses outputs of different campaigns (campaign.json params), unless forced; shards of one merge. */
describe('merge: campaign identity', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-mergeid-'));
  const output = (name: string, seed: number, pins: Record<string, string>, id: string): string => {
    const dir = path.join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'campaign.json'), JSON.stringify({ executions: 5, campaignId: id, params: { seed, pins, schedules: 6, shards: 2, version: '0.1.0' } }));
    return dir;
  };

  it('refuses another seed or other pins naming the difference; --force merges; shards of one campaign merge', () => {
    const a = output('a', 7, {}, 'AAAAAAAAAAAAAAAAAAAAA');
    const b = output('b', 9, {}, 'BBBBBBBBBBBBBBBBBBBBB');
    const c = output('c', 7, { 'dma-owner': 'owner-cnt' }, 'CCCCCCCCCCCCCCCCCCCCC');
    const d = output('d', 7, {}, 'DDDDDDDDDDDDDDDDDDDDD');
    expect(() => mergeOutputs([a, b], path.join(root, 'm1'))).toThrow(InputError);
    expect(() => mergeOutputs([a, b], path.join(root, 'm1'))).toThrow(/seed 7 vs 9.*--force/);
    expect(() => mergeOutputs([a, c], path.join(root, 'm2'))).toThrow(/pins/);
    expect(mergeOutputs([a, b], path.join(root, 'm3'), true).executions).toBe(10);
    const m = mergeOutputs([a, d], path.join(root, 'm4'));
    expect(m.executions).toBe(10);
    const campaign = JSON.parse(readFileSync(path.join(root, 'm4', 'campaign.json'), 'utf8')) as { merged: string[]; params: { seed: number } };
    expect(campaign.merged).toEqual(['AAAAAAAAAAAAAAAAAAAAA', 'DDDDDDDDDDDDDDDDDDDDD']);
    expect(campaign.params.seed).toBe(7);
  });
});
