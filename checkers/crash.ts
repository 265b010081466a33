import { printStack } from './sites.ts';
import type { Finding } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';
import type { AbortInfo } from '../protocol/step.ts';

/** The finding for a task that could not go on: an actor crash, a protocol error, a BUG(). */
export function abortFinding(task: TaskId, a: AbortInfo): Finding {
  const where = `${a.actor}.${a.handler}`;
  let r = '';
  switch (a.kind) {
    case 'kernel-bug':
      r += `kernel BUG in ${where}: ${a.message}\n`;
      break;
    case 'actor-crash':
      r += `BUG: actor ${a.actor} crashed in ${a.handler}: ${a.message}\n`;
      break;
    case 'protocol-error':
      r += `BUG: protocol error in ${where}: ${a.message}\n`;
      break;
    case 'actor-stuck':
      // the kernel's soft-lockup report is the nearest thing: a CPU that never got back to the scheduler
      r += `BUG: actor ${a.actor} stuck in ${a.handler}: ${a.message}\n`;
      break;
  }
  r += `task:${task}\n stack:\n${printStack(a.stack, '  ')}`;
  if (a.jsStack !== null) r += ` JavaScript backtrace:\n${a.jsStack.split('\n').slice(1, 9).map((l) => `  ${l.trim()}`).join('\n')}\n`;
  return {
    kind: a.kind,
    title: `${a.kind} in ${where}`,
    signature: `${a.kind}|${where}`,
    actor: a.actor,
    handler: a.handler,
    tasks: [{ task, stack: a.stack, held: [], waitsFor: null }],
    report: r,
  };
}
