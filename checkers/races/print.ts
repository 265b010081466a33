import { describeDelta, isDelta } from '../../protocol/delta.ts';
import type { UnguardedHit } from './lockset.ts';
import type { Access, RaceHit } from './shadow.ts';
import { modelStack, sortedSites, whereOf } from '../sites.ts';
import { describeHeld } from '../held-locks.ts';
import type { HeldLock } from '../held-locks.ts';
import { printStack } from '../sites.ts';
import type { ObjId, TaskId } from '../../protocol/ids.ts';

/**
 * Report printers for the race checker, apart from detection (as
 * kernel/kcsan/report.c is apart from the watchpoint code). The shapes:
 *
 *  - data race, after kernel/kcsan/report.c print_report(): a title naming
 *    both functions in lexical order ("BUG: KCSAN: data-race in a / b"), the
 *    earlier access with its stack, then the one that completed the race,
 *    then "value changed: old -> new". Addresses become "object.field
 *    (type.field)", "on cpu N" becomes "at step N", and each access lists the
 *    locks its task held (what CONFIG_KCSAN_VERBOSE adds through lockdep);
 *  - lost update: the same, with three accesses and a closing paragraph that
 *    says whose update was lost (KCSAN has no such report: it sees only the
 *    racing pair; this model sees the whole read-modify-write);
 *  - unguarded access, after lockdep's lockdep_rcu_suspicious() "suspicious
 *    RCU usage" splat: what was touched without which lock, held locks,
 *    stack backtrace.
 */

const RULE = '==================================================================';

export type TypeOf = (obj: ObjId) => string;

/** Integers print as KCSAN prints a word (0x%08x); anything else as JSON. */
export function formatValue(v: unknown): string {
  if (isDelta(v)) return describeDelta(v, formatValue);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return `0x${v.toString(16).padStart(8, '0')}`;
  if (typeof v === 'number' && Number.isInteger(v) && v < 0 && v >= -0x80000000) return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function kindOf(a: Access): string {
  return `${a.op}${a.lockless ? ' (marked)' : ''}`;
}

function target(a: Access, typeOf: TypeOf): string {
  return `${a.obj}.${a.field} (${typeOf(a.obj)}.${a.field})`;
}

/** lockdep's held-lock list: "no locks held by t1." or "2 locks held by t1:" and one line per lock. */
export function printHeld(task: TaskId, held: readonly HeldLock[]): string {
  if (held.length === 0) return `no locks held by ${task}.\n`;
  let s = `${held.length} lock${held.length === 1 ? '' : 's'} held by ${task}:\n`;
  held.forEach((h, i) => (s += ` ${describeHeld(h, i)}\n`));
  return s;
}

function section(a: Access, typeOf: TypeOf): string {
  return `${kindOf(a)} to ${target(a, typeOf)} by task ${a.task} at step ${a.step}:\n` + printStack(modelStack(a.stack), ' ') + printHeld(a.task, a.held);
}

function title(sites: readonly string[]): string {
  const s = [...new Set(sortedSites(sites))];
  return s.length === 1 ? `${s[0]} / ${s[0]}` : s.join(' / ');
}

/** The write whose change a report shows: the later write of the pair. */
function changed(prev: Access, cur: Access): Access | null {
  if (cur.op === 'write') return cur;
  return prev.op === 'write' ? prev : null;
}

export function printDataRace(hit: Extract<RaceHit, { what: 'race' }>, typeOf: TypeOf): string {
  const { prev, cur } = hit;
  let r = `${RULE}\n`;
  r += `BUG: KCSAN: data-race in ${title([whereOf(prev.stack).site, whereOf(cur.stack).site])}\n\n`;
  r += section(prev, typeOf) + '\n';
  r += section(cur, typeOf) + '\n';
  const w = changed(prev, cur);
  if (w !== null && isDelta(w.value)) r += `value changed: ${formatValue(w.value)}\n\n`;
  else if (w !== null && !Object.is(w.old, w.value)) r += `value changed: ${formatValue(w.old)} -> ${formatValue(w.value)}\n\n`;
  r += reportedBy(cur);
  return r;
}

export function printLostUpdate(hit: Extract<RaceHit, { what: 'lost-update' }>, typeOf: TypeOf): string {
  const { read, other, write } = hit;
  let r = `${RULE}\n`;
  r += `BUG: KCSAN: data-race in ${title([whereOf(read.stack).site, whereOf(other.stack).site, whereOf(write.stack).site])}\n\n`;
  r += section(read, typeOf) + '\n';
  r += section(other, typeOf) + '\n';
  r += section(write, typeOf) + '\n';
  r += `value changed: ${formatValue(other.value)} -> ${formatValue(write.value)}\n\n`;
  r += `lost update: task ${write.task} read ${formatValue(read.value)}, task ${other.task} then wrote ${formatValue(other.value)},\n`;
  r += `and task ${write.task} wrote ${formatValue(write.value)} computed from its stale read: the update of task ${other.task} is lost`;
  const bits = revertedBits(other, write);
  r += bits === null ? '.\n\n' : `\n(bits ${formatValue(bits)} reverted).\n\n`;
  r += reportedBy(write);
  return r;
}

/** For words used as bitfields: the bits `other` changed that `write` put back. */
function revertedBits(other: Access, write: Access): number | null {
  const { old, value } = other;
  const last = write.value;
  if (!isWord(old) || !isWord(value) || !isWord(last)) return null;
  const bits = ((old ^ value) & (value ^ last)) >>> 0;
  return bits === 0 ? null : bits;
}

const isWord = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 0xffffffff;

function reportedBy(a: Access): string {
  return `Reported by iommu-lab race checker on:\ntask ${a.task} at step ${a.step}\n${RULE}\n`;
}

export function printUnguarded(hit: UnguardedHit, typeOf: TypeOf): string {
  const a = hit.access;
  const w = whereOf(a.stack);
  let r = '=============================\n';
  r += `WARNING: unguarded ${a.op === 'read' ? 'read' : 'write'} of a locked field\n`;
  r += '-----------------------------\n';
  r += `${w.site}: ${a.op} of ${target(a, typeOf)} without ${hit.guard} held`;
  r += hit.verdict === 'read-held' ? ' for write (it is held for read only)!\n' : '!\n';
  r += '\nother info that might help us debug this:\n\n';
  r += printHeld(a.task, a.held);
  r += `\nstack backtrace:\ntask:${a.task} step:${a.step}\n` + printStack(modelStack(a.stack), ' ');
  return r;
}
