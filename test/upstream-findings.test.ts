import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import type { CommandIo } from '../cli/io.ts';

/**
 * Issue 15 item 8: the lab's two upstream findings as built-in scenarios.
 * The 7.0 variant is found within 200 schedules (pinned seed), its replay
 * reproduces it, and the candidate fix is clean in the same budget.
 */

interface Found { readonly kind: string; readonly firstSchedule: number; readonly replay: string; readonly signature: string }

async function run(scenario: string, variant: string | null, schedules = 200, seed = 1): Promise<{ code: number; findings: readonly Found[] }> {
  let json: unknown;
  const io: CommandIo = { out: () => {}, err: () => {}, json: (d) => void (json = JSON.parse(JSON.stringify(d))) };
  const out = mkdtempSync(path.join(tmpdir(), 'iommu-lab-upstream-'));
  const code = await main(['run', scenario, ...(variant === null ? [] : ['--variant', variant]), '--schedules', String(schedules), '--seed', String(seed), '--out', out, '--json'], io);
  return { code, findings: (json as { findings: Found[] }).findings };
}

async function replays(f: Found): Promise<boolean> {
  let r: { reproduced: boolean; findings: { signature: string }[] } | undefined;
  const io: CommandIo = { out: () => {}, err: () => {}, json: (d) => void (r = JSON.parse(JSON.stringify(d))) };
  await main(['replay', f.replay, '--json'], io);
  return r?.reproduced === true && r.findings.some((x) => x.signature === f.signature);
}

describe('upstream findings of the lab', () => {
  it('VFIO container ioctl passthrough vs the last group detach: use-after-free; down_read(group_lock) fixes it', async () => {
    // seed 4: the held-lock free is a narrow window (2–8 in 1,000 schedules); seed 1 meets it at 688 since the
    // unbind runs through kernfs, seed 4 at 76
    const bug = await run('upstream-vfio-container-ioctl', 'container-ioctl=unlocked-passthrough', 200, 4);
    const uaf = bug.findings.find((f) => f.kind === 'use-after-free');
    expect(uaf?.firstSchedule).toBeLessThan(200);
    expect(bug.findings.map((f) => f.kind).sort()).toEqual(['data-race', 'data-race', 'lock-misuse', 'use-after-free', 'use-after-free']);
    expect(await replays(uaf as Found)).toBe(true);
    const fix = await run('upstream-vfio-container-ioctl', 'container-ioctl=group-lock-read', 200, 4);
    expect(fix.findings).toEqual([]);
    expect(fix.code).toBe(0);
  }, 180_000);

  it('pciehp IST, sysfs remove and a slot reset: a three-party deadlock; dropping reset_lock first fixes it', async () => {
    const bug = await run('upstream-pciehp-three-party', 'pciehp-unconfigure=reset-lock-held');
    const dl = bug.findings.find((f) => f.kind === 'deadlock');
    expect(dl?.firstSchedule).toBeLessThan(200);
    expect(await replays(dl as Found)).toBe(true);
    const fix = await run('upstream-pciehp-three-party', 'pciehp-unconfigure=drop-reset-lock-first');
    expect(fix.findings).toEqual([]);
    expect(fix.code).toBe(0);
  }, 180_000);

  it('two hotplug slots with a VFIO user each: the one inversion is the three-party cycle, not the two IRQ threads\' class merge', async () => {
    const r = await run('two-slot-vfio-pciehp', null, 60);
    // reset_lock → pci_rescan_remove_lock → device_lock → reset_lock (write, pciehp_reset_slot): the classes of the cycle
    expect(r.findings.map((f) => `${f.kind} ${f.signature.split('|')[1]}`)).toEqual(['lock-order-inversion ctrl->reset_lock,device_lock,pci_rescan_remove_lock']);
  }, 180_000);
});
