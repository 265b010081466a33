import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * SIGINT / SIGTERM in the middle of a long command (CLI.md "Exit codes"):
 * the built CLI stops, prints exactly one JSON document with
 * `"interrupted": true`, writes campaign.json (fuzz), and exits 130 / 143
 * with no worker left (the process exits: a live worker thread would keep it).
 */

const BIN = path.resolve('bin/iommu-lab.mjs');

/**
 * Runs the CLI, sends `signal` once it is at work (its --out directory
 * exists, checked before any work, and `ready` holds, plus a moment), and
 * collects what it printed.
 */
function stopMidRun(args: readonly string[], out: string, signal: 'SIGINT' | 'SIGTERM', ready: () => boolean = () => true): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
    const wait = setInterval(() => {
      if (existsSync(out) && ready()) {
        clearInterval(wait);
        setTimeout(() => child.kill(signal), 4000);
      }
    }, 100);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(wait);
      resolve({ code, out: stdout, err });
    });
  });
}

describe('signals', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`fuzz --json stopped by ${signal}: one JSON document, interrupted, campaign.json written, exit ${code}`, async () => {
      const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-sig-')), 'out');
      const r = await stopMidRun(['fuzz', '--time', '120', '--jobs', '2', '--seed', '3', '--out', out, '--json'], out, signal);
      expect(r.code, r.err).toBe(code);
      const doc = JSON.parse(r.out) as { interrupted?: boolean; executions?: number };
      expect(doc.interrupted).toBe(true);
      const campaign = JSON.parse(readFileSync(path.join(out, 'campaign.json'), 'utf8')) as { interrupted?: boolean; campaignId?: string; executions?: number };
      expect(campaign.interrupted).toBe(true);
      expect(campaign.executions).toBe(doc.executions);
      expect(campaign.campaignId).toMatch(/^[A-Za-z0-9_-]{21}$/);
    }, 120_000);
  }

  it('stress --json stopped by SIGINT: one JSON document with interrupted: true, exit 130', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-sig-')), 'out');
    const r = await stopMidRun(['stress', '--devices', '8', '--units', '1', '--tasks', '4', '--time', '120', '--fixed', '--out', out, '--json'], out, 'SIGINT');
    expect(r.code, r.err).toBe(130);
    const doc = JSON.parse(r.out) as { interrupted?: boolean; outcome?: string };
    expect(doc.interrupted).toBe(true);
    expect(doc.outcome).toBe('interrupted');
  }, 120_000);

  // an inline exploration runs in microtasks: before explore gave the event loop a turn, a signal waited for the whole run
  it('run --json stopped by SIGINT mid-exploration: the findings so far, interrupted: true, exit 130', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-sig-')), 'out');
    // the signal comes once the buggy variant's use-after-free (schedule 183 on seed 1) has been written, however loaded the machine
    const found = (): boolean => readdirSync(out, { recursive: true }).some((f) => String(f).endsWith('replay.json'));
    const r = await stopMidRun(['run', 'seed-004-domain-alloc-vs-hot-remove', '--schedules', '10000000', '--out', out, '--json'], out, 'SIGINT', found);
    expect(r.code, r.err).toBe(130);
    const doc = JSON.parse(r.out) as { interrupted?: boolean; findings: { kind: string }[] };
    expect(doc.interrupted).toBe(true);
    expect(doc.findings.map((f) => f.kind)).toContain('use-after-free');
  }, 120_000);

  // compare's rows run on pool workers, which a signal does not reach: they follow the main thread's shared stop flag
  it('compare --json stopped by SIGTERM: the rows that ran, interrupted: true, exit 143', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'iommu-lab-sig-')), 'out');
    const r = await stopMidRun(['compare', 'seed-004-domain-alloc-vs-hot-remove', '--schedules', '10000000', '--out', out, '--json'], out, 'SIGTERM');
    expect(r.code, r.err).toBe(143);
    const doc = JSON.parse(r.out) as { interrupted?: boolean; rows: { schedules: number }[] };
    expect(doc.interrupted).toBe(true);
    // the rows in flight (one per pool thread: the machine's cores decide how many) stopped early, not at their budget
    expect(doc.rows.length).toBeGreaterThan(0);
    for (const row of doc.rows) expect(row.schedules).toBeLessThan(10_000_000);
  }, 120_000);
});
