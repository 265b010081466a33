import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCampaign } from '../fuzz/campaign.ts';
import { FIXED_PINS } from '../fuzz/generate.ts';

/**
 * A fuzz campaign's throughput: executions per second of a `--fixed`
 * campaign with `jobs` pool threads, for `seconds` (generation, mutation,
 * coverage and the kernel checkers included; the pool's start-up too, so
 * short runs read low). Writes into a temporary directory it removes.
 */
export async function fuzzExecutionsPerSec(jobs: number, seconds: number): Promise<number> {
  const out = mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-bench-fuzz-'));
  try {
    const r = await runCampaign({
      timeMs: seconds * 1000, jobs, shard: { index: 1, count: 1 }, seed: 1, out, corpus: path.join(out, 'corpus'),
      pins: FIXED_PINS, schedules: 6, progress: null, onFinding: () => {},
    });
    return (r.executions * 1000) / r.elapsedMs;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
