import type { LifetimeHit, RefOp, Site } from './objects.ts';
import { printHeld } from '../races/print.ts';
import { modelStack, whereOf } from '../sites.ts';
import { printStack } from '../sites.ts';
import { OBJECT_SIZE, REPORT_LEGEND, backtraceLines, dumpStack, fieldAddr, innermostFunction, synthAddr, taskName, taskPid } from '../kernel-report.ts';

/**
 * Report printers for the lifetime checker, apart from detection (as
 * mm/kasan/report.c is apart from the shadow checks):
 *
 *  - use-after-free / double-free, after mm/kasan/report.c print_report():
 *    "BUG: KASAN: <bug type> in <site>", the access line ("Read of … by task
 *    …"), the using task's stack, then print_address_description()'s
 *    "Allocated by task N:", "Freed by task N:" and "Last potentially related
 *    work creation:" stacks, and where the address lies. Addresses become
 *    object ids; "at addr X of size N" becomes "at addr <object> (<what>)";
 *  - refcount underflow, after lib/refcount.c refcount_warn_saturate(): the
 *    WARN splat with the kernel's own words "refcount_t: underflow;
 *    use-after-free.", plus the object's alloc/free stacks and refcount
 *    history (what a reader needs to find the extra put);
 *  - leak, after mm/kmemleak.c print_unreferenced(): "unreferenced object
 *    … ", the allocating task and backtrace, plus the refcount history (the
 *    get without a put).
 */

const RULE = '==================================================================';

function stackOf(s: Site, indent: string): string {
  return printStack(modelStack(s.stack), indent);
}

function taskSection(title: string, s: Site): string {
  return `${title} by task ${s.task} at step ${s.step}:\n` + stackOf(s, ' ');
}

function history(ops: readonly RefOp[], obj: string): string {
  let r = `refcount history of ${obj} (oldest first):\n`;
  for (const o of ops) r += ` ${o.op.padEnd(5)} -> ${String(o.count).padStart(2)}  by task ${o.at.task} in ${whereOf(o.at.stack).site} at step ${o.at.step}\n`;
  return r;
}

/** The field a detail names ("field dma" → "dma"), the offset key of the access. */
function fieldOf(detail: string): string {
  return detail.startsWith('field ') ? detail.slice('field '.length) : detail;
}

/**
 * mm/kasan/report.c print_report() for a use-after-free or double-free:
 * the title with the function, the access line with its size and address
 * and the task as comm/pid, dump_stack(), the allocation, free and
 * aux stacks (print_track()), then print_address_description(): the
 * object, its cache and size, where the address lies in it. KASAN prints
 * no held locks. No page dump and no shadow bytes: the model has no pages.
 * Addresses, the access size (a word) and object size are stable synthetic
 * values; `iommu-lab:` lines after the report say what they stand for.
 */
export function printUseAfterFree(hit: Extract<LifetimeHit, { what: 'use-after-free' }>): string {
  const u = hit.use;
  const base = synthAddr(hit.obj);
  const { addr, offset } = fieldAddr(hit.obj, fieldOf(hit.detail));
  const end = (BigInt(`0x${base}`) + BigInt(OBJECT_SIZE)).toString(16);
  let r = `${RULE}\n`;
  r += `BUG: KASAN: ${hit.bug} in ${innermostFunction(u.stack)}\n`;
  r += hit.access === 'Free'
    ? `Free of addr ${base} by task ${taskName(u.task)}\n\n`
    : `${hit.access} of size 8 at addr ${addr} by task ${taskName(u.task)}\n\n`;
  r += dumpStack(u.task, modelStack(u.stack)) + '\n';
  if (hit.alloc !== null) r += `Allocated by task ${taskPid(hit.alloc.task)}:\n` + backtraceLines(modelStack(hit.alloc.stack)) + '\n';
  r += `Freed by task ${taskPid(hit.free.task)}:\n` + backtraceLines(modelStack(hit.free.stack)) + '\n';
  if (hit.aux !== null) r += 'Last potentially related work creation:\n' + backtraceLines(modelStack(hit.aux.spawn.at.stack)) + '\n';
  r += `The buggy address belongs to the object at ${base}\n which belongs to the cache ${hit.type} of size ${OBJECT_SIZE}\n`;
  r += hit.access === 'Free'
    ? `The buggy address is located 0 bytes inside of\n ${OBJECT_SIZE}-byte region [${base}, ${end})\n`
    : `The buggy address is located ${offset} bytes inside of\n freed ${OBJECT_SIZE}-byte region [${base}, ${end})\n`;
  r += `${RULE}\n`;
  const gap = u.step - hit.free.step;
  const frames = (x: Site): string => [...modelStack(x.stack)].reverse().join(' < ');
  r += `${REPORT_LEGEND} ${base} is ${hit.obj} (${hit.type}), ${hit.detail}; task ${taskName(u.task)} is ${u.task}, in ${frames(u)}\n`;
  if (hit.alloc !== null) r += `${REPORT_LEGEND} allocated by task ${hit.alloc.task} at step ${hit.alloc.step}, in ${frames(hit.alloc)}\n`;
  r += `${REPORT_LEGEND} freed by task ${hit.free.task} at step ${hit.free.step}, ${gap} step${gap === 1 ? '' : 's'} before this access at step ${u.step}, in ${frames(hit.free)}\n`;
  if (hit.aux !== null) {
    const a = hit.aux.spawn;
    r += `${REPORT_LEGEND} work creation: message ${a.op} to ${a.to}, sent by task ${a.at.task} at step ${a.at.step}`;
    r += hit.aux.inFlight ? `, still in flight when ${hit.obj} was freed at step ${hit.free.step}\n` : '\n';
  }
  return r;
}

export function printRefcountUnderflow(hit: Extract<LifetimeHit, { what: 'refcount-underflow' }>): string {
  const p = hit.put;
  let r = '------------[ cut here ]------------\n';
  r += 'refcount_t: underflow; use-after-free.\n';
  r += `WARNING: task ${p.task} at step ${p.step} in ${whereOf(p.stack).site}: put of ${hit.obj} (${hit.type}) left refcount ${hit.count}\n`;
  r += 'Call Trace:\n' + stackOf(p, ' ');
  r += printHeld(p.task, p.held) + '\n';
  if (hit.alloc !== null) r += taskSection('Allocated', hit.alloc) + '\n';
  if (hit.free !== null) r += taskSection('Freed', hit.free) + '\n';
  r += history(hit.history, hit.obj);
  r += '---[ end trace 0000000000000000 ]---\n';
  return r;
}

export function printRefcountLeak(hit: Extract<LifetimeHit, { what: 'refcount-leak' }>): string {
  const a = hit.alloc;
  let r = 'kmemleak: 1 new suspected memory leaks\n';
  r += `unreferenced object ${hit.obj} (${hit.type}):\n`;
  r += `  comm "${a.task}", step ${a.step}, refcount ${hit.count} at the end of the execution`;
  r += hit.count > 0 ? ' (a reference was never put)\n' : ' (the count reached 0 but the object was never freed)\n';
  r += '  backtrace:\n' + stackOf(a, '    ');
  r += history(hit.history, hit.obj);
  return r;
}
