import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.ts';
import { mergeFreeLogs } from '../runtime/free-order.ts';
import type { FreeLog } from '../protocol/wire.ts';
import type { TaskId } from '../protocol/ids.ts';
import { compileTask, roundChurn, processNames } from '../stress/churn.ts';
import { compileContext } from '../scenarios/format/ops.ts';
import { generateMachine } from '../stress/topology.ts';
import { stressPrograms } from '../stress/checking.ts';
import { runExecution } from '../runtime/execution.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'iommu-lab-stress-'));

interface StressJson {
  readonly devices: number;
  readonly units: number;
  readonly tasks: number;
  readonly elapsedMs: number;
  readonly operations: number;
  readonly messages: number;
  readonly messagesPerSec: number;
  readonly opLatencyMs: { readonly p50: number; readonly p99: number };
  readonly peakRssMb: number;
  readonly rounds: number;
  readonly outcome: string;
  readonly phaseMs: Readonly<Record<string, number>>;
  readonly mainThreadMaxBlockMs: number;
  readonly mainThreadMaxBusyMs: number | null;
  readonly findings: readonly { readonly kind: string; readonly signature: string; readonly replay: string; readonly reproduced: boolean | null }[];
  readonly known: readonly { readonly id: string; readonly count: number; readonly source: string }[];
}

describe('stress: the generated machine and its churn', () => {
  it('a machine has exactly the devices asked for, every unit kind, shared groups, RMR and PASID devices, vfio-pci', () => {
    const m = generateMachine({ devices: 256, units: 8, seed: 3 });
    expect(m.topology.pci.length).toBe(256);
    expect(new Set(m.topology.units.map((u) => u.kind))).toEqual(new Set(['vtd', 'amd-vi', 'smmu-v3', 'mock']));
    const kinds = new Set(m.clusters.map((c) => c.kind));
    expect(kinds).toEqual(new Set(['nic', 'vfio', 'mfd', 'switch', 'rmr']));
    expect(m.topology.pci.some((d) => d.require_direct === true)).toBe(true);
    expect(m.topology.pci.some((d) => (d.pasid_bits ?? 0) > 0)).toBe(true);
    expect(m.topology.pci.some((d) => d.driver === 'vfio-pci')).toBe(true);
    // no firmware direct mapping on the mock unit, which has no identity domain
    const mockUnits = new Set(m.topology.units.filter((u) => u.kind === 'mock').map((u) => u.name));
    expect(m.topology.pci.filter((d) => d.require_direct === true && mockUnits.has(d.unit ?? ''))).toEqual([]);
    // the same arguments, the same machine
    expect(generateMachine({ devices: 256, units: 8, seed: 3 })).toEqual(m);
  });

  it('a round is a pure function of the machine, the seed and its index, and compiles like a scenario document', () => {
    const m = generateMachine({ devices: 64, units: 4, seed: 1 });
    const spec = { tasks: 32, seed: 5, processes: processNames(32) };
    const r = roundChurn(m, spec, 7);
    expect(roundChurn(m, spec, 7)).toEqual(r);
    expect(r.tasks.length + r.processes.length).toBe(32);
    expect(new Set(r.processes.map((p) => p.name)).size).toBe(r.processes.length);
    for (const t of r.tasks) expect(compileTask(t, compileContext(m.topology)).calls.length).toBe(t.ops.length);
  });

  it('a spawned task is merged after the step that spawned it, even when its actor comes first', () => {
    const send = { ev: 'send', task: 'p' as TaskId, actor: 'b', stack: [], msg: 'p.1#0', to: 'a', op: 'child', kind: 'event' } as const;
    const entry = (task: string, n: number, events: FreeLog['last'][number]['events'] = []): FreeLog['last'][number] =>
      ({ task: task as TaskId, n, kind: 'deliver', point: { at: 'return' }, stack: '' as never, end: false, events });
    const logs: FreeLog[] = [
      { actor: 'a' as never, tasks: ['p.1' as TaskId], ns: [0], details: [entry('p.1', 0)], last: [] },
      { actor: 'b' as never, tasks: ['p' as TaskId, 'p' as TaskId], ns: [0, 1], details: [entry('p', 0), entry('p', 1, [send as never])], last: [] },
    ];
    const order = mergeFreeLogs(logs).map((o) => logs[o.log]!.tasks[o.at]);
    expect(order).toEqual(['p', 'p', 'p.1']);
  });
});

describe('stress: a finding\'s replay', () => {
  // a stress replay's set-up is the machine's boot (325,779 steps at 4,096 devices): the step limit must not cut it
  it('limitAfterSetup: the step limit counts only the steps after the set-up', async () => {
    const { hostProgram, bootProgram } = stressPrograms({ devices: 24, units: 2, seed: 1, tasks: 8, variants: {} });
    const boot = async (limitAfterSetup: boolean): Promise<{ outcome: string; steps: number }> => {
      const host = await InlineHost.create(hostProgram);
      try {
        return await runExecution(host, bootProgram, new ReplayStrategy([]), { seed: 1, maxSteps: 50, limitAfterSetup });
      } finally {
        await host.close();
      }
    };
    const all = await boot(false);
    expect(all.outcome).toBe('step-limit');
    expect(all.steps).toBe(50);
    const after = await boot(true);
    expect(after.outcome).toBe('completed');
    expect(after.steps).toBeGreaterThan(50);
  });
});

describe('iommu-lab stress (workers host, free mode)', () => {
  it('fixed variants: a short run on a small machine finds nothing new, with the JSON of CLI.md', async () => {
    const r = await cli('stress', '--devices', '24', '--units', '2', '--tasks', '8', '--time', '2', '--seed', '3', '--fixed', '--out', tmp(), '--json');
    const doc = r.json as StressJson;
    expect(doc.findings).toEqual([]);
    expect(r.code).toBe(0);
    expect(doc.devices).toBe(24);
    expect(doc.units).toBe(2);
    expect(doc.tasks).toBe(8);
    expect(doc.outcome).toBe('completed');
    expect(doc.rounds).toBeGreaterThan(0);
    expect(doc.operations).toBeGreaterThan(0);
    expect(doc.messages).toBeGreaterThan(doc.operations);
    expect(doc.messagesPerSec).toBeGreaterThan(0);
    expect(doc.elapsedMs).toBeGreaterThanOrEqual(2000);
    expect(doc.opLatencyMs.p99).toBeGreaterThanOrEqual(doc.opLatencyMs.p50);
    expect(doc.opLatencyMs.p50).toBeGreaterThan(0);
    expect(doc.peakRssMb).toBeGreaterThan(0);
    // the round loop's waits and the checker thread's own time (docs/stress.md "JSON"); the two block figures (stress/stats.ts)
    expect(Object.keys(doc.phaseMs).sort()).toEqual(['check', 'checkWait', 'drain', 'gc', 'restore', 'run']);
    expect(doc.phaseMs.check).toBeGreaterThan(0);
    expect(doc.mainThreadMaxBlockMs).toBeGreaterThanOrEqual(0);
    if (process.platform === 'linux') expect(doc.mainThreadMaxBusyMs).toBeGreaterThanOrEqual(0);
    // known findings (fuzz/known.ts, the project's one list) are counted, not written
    for (const k of doc.known) {
      expect(k.count).toBeGreaterThan(0);
      expect(['upstream', 'model']).toContain(k.source);
    }
  }, 60_000);

  it('seed 000\'s unlocked viability scan: found under real concurrency, and its replay reproduces in controlled mode', async () => {
    const out = tmp();
    const r = await cli('stress', '--devices', '24', '--units', '2', '--tasks', '8', '--time', '10', '--rounds', '4', '--seed', '1', '--fixed',
      '--variant', 'dma-owner=viable-scan-unlocked', '--out', out, '--json');
    const doc = r.json as StressJson;
    expect(r.code).toBe(1);
    // the claim's scan reads the siblings' dev->driver without their device_lock (and, when the
    // timing of the run lets a sibling's bind write it meanwhile, that is a data race too)
    const scan = doc.findings.find((f) => f.signature === 'unguarded-access|device.driver|driver-core.dev_driver_snapshot');
    expect(scan, JSON.stringify(doc.findings.map((f) => f.signature))).toBeDefined();
    // every finding's replay, run at the end of the stress, hit its signature again
    for (const f of doc.findings) expect(f.reproduced, f.signature).toBe(true);
    // the replay file is what `iommu-lab replay` runs: the round's real order after the boot
    const file = JSON.parse(readFileSync(scan!.replay, 'utf8')) as { scenario: string; decisions: string[]; variants: Record<string, string> };
    expect(file.scenario).toBe('./scenario.json');
    expect(file.variants['dma-owner']).toBe('viable-scan-unlocked');
    const rep = await cli('replay', scan!.replay, '--json');
    expect((rep.json as { reproduced: boolean; divergence: string | null }).divergence).toBeNull();
    expect((rep.json as { reproduced: boolean }).reproduced).toBe(true);
    expect(rep.code).toBe(0);
  }, 60_000);

  it('bad flags exit 2 naming what was wrong', async () => {
    for (const [argv, msg] of [
      [['--devices', '3', '--units', '2'], /at least 2 per unit/],
      [['--devices', 'many'], /--devices must be an integer/],
      [['--units', '0'], /--units must be an integer >= 1/],
      [['--tasks', '5000'], /--tasks must be at most 4096/],
      [['--time', '-1'], /--time must be a number >= 0/],
      [['--variant', 'dma-owner'], /NAME=VALUE/],
      [['--variant', 'nope=x'], /unknown variant axis "nope"/],
      [['--variant', 'dma-owner=x'], /unknown value "x"/],
      [['--bogus'], /unknown flag --bogus/],
      [['extra'], /takes no arguments/],
    ] as const) {
      const r = await cli('stress', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });
});
