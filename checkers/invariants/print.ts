import { INVARIANTS } from './catalog.ts';
import { show } from './rules.ts';
import type { GroupDump, MemberState, Violation } from './rules.ts';
import type { Change } from './shadow.ts';
import { printHeld } from '../races/print.ts';
import { modelStack, printStack } from '../sites.ts';

/**
 * The invariants checker's report, apart from detection. The kernel has no
 * single splat for these: it keeps them with WARN_ON()s at the places that
 * would notice (__iommu_group_free_device(), iommu_device_unuse_default_domain(),
 * __iommu_release_dma_ownership(), ...). The report reads like the other
 * checkers' (a ruled block, what broke, the state, the last change with its
 * backtrace and held locks), because unlike a WARN_ON it is raised where the
 * state is inconsistent, not where some later caller trips over it.
 */

const RULE = '==================================================================';

function memberLine(m: MemberState): string {
  let r = ` ${m.dev}${m.former ? ' (left the group)' : ''}: driver=${show(m.driver)}`;
  if (m.driver !== null) r += ` driver_managed_dma=${m.driver_managed_dma ? 1 : 0}`;
  r += ` bound=${m.bound ? 1 : 0}`;
  if (m.require_direct !== null) r += ` require_direct=${m.require_direct ? 1 : 0} hw_domain=${show(m.hw_domain)}`;
  return r + '\n';
}

export function printGroup(g: GroupDump): string {
  const st = g.state;
  let r = `group ${st.id} state:\n`;
  r += ` devices: ${show(st.devices)}\n`;
  r += ` owner: ${show(st.owner)}  owner_cnt: ${st.owner_cnt}\n`;
  r += ` domain: ${show(st.domain)}\n`;
  r += ` default_domain: ${show(st.default_domain)}\n`;
  r += ` blocking_domain: ${show(st.blocking_domain)}\n`;
  r += ` resetting_domain: ${show(st.resetting_domain)}\n`;
  r += ` pasid_array: ${show(st.pasid_array)}\n`;
  if (g.members.length > 0) {
    r += 'members:\n';
    for (const m of g.members) r += memberLine(m);
  }
  return r;
}

function changeLine(c: Change, atWrite: boolean): string {
  const head = atWrite ? 'the write' : 'last change';
  if (c.field === null) return `${head}: task ${c.task} freed ${c.obj} at step ${c.step}\n`;
  return `${head}: task ${c.task} wrote ${c.obj}.${c.field} at step ${c.step}: ${show(c.old)} -> ${show(c.value)}\n`;
}

function when(v: Violation): string {
  if (v.atWrite) return `detected at the write, step ${v.step}`;
  const info = INVARIANTS[v.invariant];
  if (v.group === null) return `detected at step ${v.step}`;
  const locks = info.when === 'group+devices' ? `${v.group.state.id}->mutex and its members' device_lock` : `${v.group.state.id}->mutex`;
  return `detected at step ${v.step}, with ${locks} free`;
}

export function printViolation(v: Violation): string {
  const info = INVARIANTS[v.invariant];
  let r = `${RULE}\n`;
  const rep = v.replacement;
  r += rep === undefined
    ? `iommu-lab: invariant violated: ${v.invariant} (${info.ref})\n`
    : `iommu-lab: invariant violated: ${rep.name} (the scenario's replacement of ${v.invariant}, ${info.ref})\n`;
  r += `${v.summary}\n`;
  for (const d of v.details) r += ` ${d}\n`;
  r += `rule: ${rep === undefined ? info.rule : rep.rule}\n`;
  if (rep === undefined) r += `kept by: ${info.kernel}\n`;
  r += `${when(v)}\n\n`;
  if (v.group !== null) r += printGroup(v.group) + '\n';
  if (v.change === null) {
    r += 'last change: none seen (the state was only read)\n';
  } else {
    r += changeLine(v.change, v.atWrite);
    r += printStack(modelStack(v.change.stack), ' ');
    r += printHeld(v.change.task, v.change.held);
  }
  r += `${RULE}\n`;
  return r;
}
