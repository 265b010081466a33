import { describeDelta, isDelta } from '../../protocol/delta.ts';
import type { UnguardedHit } from './lockset.ts';
import type { Access, RaceHit } from './shadow.ts';
import { modelStack, sortedSites, whereOf } from '../sites.ts';
import { describeHeld } from '../held-locks.ts';
import type { HeldLock } from '../held-locks.ts';
import { printStack } from '../sites.ts';
import { REPORT_LEGEND, backtraceLines, cpuLine, fieldAddr, synthAddr, taskCpu, taskName, taskPid } from '../kernel-report.ts';
import { printHeldLocks } from '../lockdep/print.ts';
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

/**
 * A value as KCSAN's "value changed:" prints it, a hex word: integers and
 * booleans as they are, null as 0, a pointer-like model value (an object
 * id, a name) as a stable synthetic address; the model's value itself goes
 * in the legend.
 */
function kcsanValue(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v)) return formatValue(v);
  if (v === null || v === undefined || v === false) return '0x0000000000000000';
  if (v === true) return '0x0000000000000001';
  return `0x${synthAddr(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v))}`;
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

/**
 * One access as kernel/kcsan/report.c prints it: "read to 0x… of 8 bytes by
 * task <pid> on cpu <n>:" and the stack; then, as CONFIG_KCSAN_VERBOSE
 * does through lockdep, the task's held locks. The address (a word of the
 * object) and the cpu are stable synthetic values (checkers/kernel-report.ts).
 */
function section(a: Access): string {
  return `${kindOf(a)} to 0x${fieldAddr(a.obj, a.field).addr} of 8 bytes by task ${taskPid(a.task)} on cpu ${taskCpu(a.task)}:\n`
    + backtraceLines(modelStack(a.stack)) + '\n' + printHeldLocks(a.task, a.held);
}

/** After the report: which object and field each address is, which model task each pid is, at which step. */
function legend(accesses: readonly Access[], typeOf: TypeOf): string {
  let r = '';
  const seen = new Set<string>();
  for (const a of accesses) {
    const key = `${a.obj}.${a.field}`;
    if (!seen.has(key)) r += `${REPORT_LEGEND} 0x${fieldAddr(a.obj, a.field).addr} is ${target(a, typeOf)}\n`;
    seen.add(key);
  }
  for (const a of accesses) r += `${REPORT_LEGEND} ${a.op} by task ${taskName(a.task)} (task ${a.task}) at step ${a.step}, in ${[...modelStack(a.stack)].reverse().join(' < ')}\n`;
  return r;
}

/**
 * "a / b": both functions of a race in lexical order, as kernel/kcsan/report.c
 * print_report() titles it (the same function twice when both accesses are
 * in one). The finding's title uses it too, so two races of one function
 * with different partners headline differently.
 */
export function raceTitle(sites: readonly string[]): string {
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
  r += `BUG: KCSAN: data-race in ${raceTitle([whereOf(prev.stack).site, whereOf(cur.stack).site])}\n\n`;
  r += section(prev) + '\n';
  r += section(cur) + '\n';
  const w = changed(prev, cur);
  // a large container's write comes as a delta (protocol/delta.ts): no word-sized value for the kernel's line, the change goes in the legend
  const delta = w !== null && isDelta(w.value);
  const valueChanged = w !== null && !delta && !Object.is(w.old, w.value);
  if (valueChanged) r += `value changed: ${kcsanValue(w.old)} -> ${kcsanValue(w.value)}\n\n`;
  r += reportedBy(cur);
  r += legend([prev, cur], typeOf);
  if (w !== null && delta) r += `${REPORT_LEGEND} the write changed ${w.field}: ${formatValue(w.value)}\n`;
  if (valueChanged && (!isWord(w.old) || !isWord(w.value))) r += `${REPORT_LEGEND} value changed: ${formatValue(w.old)} -> ${formatValue(w.value)}\n`;
  return r;
}

export function printLostUpdate(hit: Extract<RaceHit, { what: 'lost-update' }>, typeOf: TypeOf): string {
  const { read, other, write } = hit;
  let r = `${RULE}\n`;
  r += `BUG: KCSAN: data-race in ${raceTitle([whereOf(read.stack).site, whereOf(other.stack).site, whereOf(write.stack).site])}\n\n`;
  r += section(read) + '\n';
  r += section(other) + '\n';
  r += section(write) + '\n';
  r += `value changed: ${kcsanValue(other.value)} -> ${kcsanValue(write.value)}\n\n`;
  r += reportedBy(write);
  // KCSAN sees only the racing pair; the model sees the whole read-modify-write
  r += `${REPORT_LEGEND} lost update: task ${write.task} read ${formatValue(read.value)}, task ${other.task} then wrote ${formatValue(other.value)},\n`;
  r += `${REPORT_LEGEND} and task ${write.task} wrote ${formatValue(write.value)} computed from its stale read: the update of task ${other.task} is lost`;
  const bits = revertedBits(other, write);
  r += bits === null ? '.\n' : ` (bits ${formatValue(bits)} reverted).\n`;
  r += legend([read, other, write], typeOf);
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
  return `Reported by Kernel Concurrency Sanitizer on:\n${cpuLine(a.task)}\n${RULE}\n`;
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
