import type { Scenario } from './scenario.ts';
import { runtimeAbba } from './runtime/index.ts';
import { seed000SiblingBind } from './seeds/seed-000.ts';
import { seed001ReleaseOwnerWithPasid, seed001RidDetachKeepsPasid } from './seeds/seed-001.ts';
import { seed002SharedAttach } from './seeds/seed-002.ts';
import { seed003DeferredAttach, seed003DevIommuBits, seed003NestedReset, seed003RmrReset } from './seeds/seed-003.ts';
import { seed004GroupMutex, seed004HotRemove, seed004InProbe } from './seeds/seed-004.ts';
import { upstreamPciehpThreeParty } from './upstream/pciehp-three-party.ts';
import { upstreamVfioContainerIoctl } from './upstream/vfio-container-ioctl.ts';
import { twoSlotVfioPciehp } from './upstream/two-slot-vfio-pciehp.ts';
import { registerAsyncProbe, registerTwoWalkers } from './upstream/iommu-register.ts';
import { b13KvmVfio } from './upstream/b13-kvm-vfio.ts';
import { InputError } from '../runtime/input-error.ts';
import { isScenarioFile, loadScenarioFile } from './format/load.ts';
import { didYouMean, quote } from './format/issues.ts';
import { replayScenario } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';

/** Built-in scenarios, in the order `list` shows them. */
export const BUILTIN: readonly Scenario[] = [
  runtimeAbba,
  seed000SiblingBind,
  seed001RidDetachKeepsPasid, seed001ReleaseOwnerWithPasid,
  seed002SharedAttach,
  seed003DeferredAttach, seed003RmrReset, seed003NestedReset, seed003DevIommuBits,
  seed004HotRemove, seed004InProbe, seed004GroupMutex,
  upstreamVfioContainerIoctl, upstreamPciehpThreeParty,
  twoSlotVfioPciehp,
  registerAsyncProbe, registerTwoWalkers,
  b13KvmVfio,
];

export function findScenario(name: string): Scenario {
  const s = BUILTIN.find((x) => x.name === name);
  if (s === undefined) {
    throw new InputError(`unknown scenario ${quote(name)}${didYouMean(name, BUILTIN.map((x) => x.name))} (built-in: ${BUILTIN.map((x) => x.name).join(', ')})`);
  }
  return s;
}

/** A built-in scenario by name, or a scenario document by path (`.json`, `.ts`, `.js`). */
export function loadScenario(ref: string): Promise<Scenario> {
  if (BUILTIN.some((x) => x.name === ref) || !isScenarioFile(ref)) return Promise.resolve(findScenario(ref));
  return loadScenarioFile(ref);
}

/**
 * The scenario a replay file names (runtime/replay-file.ts replayScenario):
 * a problem loading it names the replay file and its `scenario` key too.
 */
export async function loadReplayScenario(rf: Pick<ReplayFile, 'scenario'>, replayFile: string): Promise<Scenario> {
  const ref = replayScenario(rf, replayFile);
  try {
    return await loadScenario(ref);
  } catch (e) {
    if (e instanceof InputError && e.file === null) throw new InputError(e.message, replayFile, 'scenario');
    if (e instanceof InputError) throw new InputError(`the scenario it names does not load: ${e.message}`, replayFile, 'scenario');
    throw e;
  }
}

/** Pool loader (runtime/pool-task.ts): builds a built-in scenario's program in a pool worker. */
export function loadBuiltin(key: unknown): { program: import('../runtime/program.ts').Program; checkers?: () => readonly import('../checkers/checker.ts').Checker[] } {
  const { scenario, variants } = key as { scenario: string; variants: Record<string, string> };
  const s = findScenario(scenario);
  return s.checkers === undefined ? { program: s.program(variants) } : { program: s.program(variants), checkers: () => (s.checkers as (v: Record<string, string>) => readonly import('../checkers/checker.ts').Checker[])(variants) };
}
