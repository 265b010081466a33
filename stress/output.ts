import path from 'node:path';
import { writeAtomic } from '../cli/output.ts';
import { hashString } from '../runtime/hash.ts';
import { REPLAY_FORMAT, REPLAY_VERSION, replayOf } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import type { Finding } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';
import type { Topology } from '../protocol/topology.ts';
import type { Round } from './churn.ts';

/**
 * A stress finding on disk, written as soon as its round has been checked:
 * `out/stress/<kind>-<hash>/` holds
 *
 * - `scenario.json`: a scenario document (docs/scenarios.md) — the stress
 *   machine and the round's churn as tasks and processes, the variants pinned;
 * - `replay.json`: a replay of that scenario (`iommu-lab replay`): the boot's
 *   decisions as controlled mode takes them, then the order the round really
 *   ran in, merged from the actors' logs (runtime/free-order.ts);
 * - `report.txt`: the kernel-style report.
 *
 * The replay names the scenario by a path relative to itself, so the
 * directory can be moved as a whole.
 */

/** The machine as a scenario document's `topology` (PCI devices by `id`). */
export function documentTopology(t: Topology): Record<string, unknown> {
  return {
    units: t.units,
    pci: t.pci.map(({ bdf, ...rest }) => ({ id: bdf, ...rest })),
    devices: [],
    drivers: t.drivers,
    mms: t.mms ?? [],
  };
}

/** The scenario document of one round: what its replay runs. */
export function roundDocument(name: string, topology: Topology, variants: Readonly<Record<string, string>>, round: Round): Record<string, unknown> {
  return {
    name,
    title: `stress round ${round.index}: ${round.tasks.length} kernel tasks and ${round.processes.length} processes on ${topology.pci.length} PCI devices`,
    topology: documentTopology(topology),
    variants: Object.fromEntries(Object.entries(variants).map(([axis, v]) => [axis, [v]])),
    tasks: round.tasks,
    processes: round.processes,
  };
}

export interface WrittenFinding {
  readonly dir: string;
  readonly replay: string;
  readonly scenario: string;
}

export function writeStressFinding(
  out: string, finding: Finding, seed: number, variants: Readonly<Record<string, string>>, round: number,
  doc: Record<string, unknown>, decisions: readonly TaskId[],
): WrittenFinding {
  const dir = path.join(out, 'stress', `${finding.kind}-${hashString(finding.signature).slice(0, 8)}`);
  const scenario = path.join(dir, 'scenario.json');
  const replay: ReplayFile = {
    format: REPLAY_FORMAT, version: REPLAY_VERSION, scenario: './scenario.json', variants, seed,
    // the boot ran as controlled mode's set-up does (alone, first enabled step); the rest is the round's real order
    mode: 'controlled', strategy: 'stress', schedule: round, decisions, finding: replayOf(finding), traceHash: null,
  };
  writeAtomic(scenario, JSON.stringify(doc) + '\n');
  writeAtomic(path.join(dir, 'replay.json'), JSON.stringify(replay) + '\n');
  writeAtomic(path.join(dir, 'report.txt'), `${finding.title}\n\n${finding.report}`);
  return { dir, replay: path.join(dir, 'replay.json'), scenario };
}
