// Runtime guards where data enters from outside this thread or from files.
// They check shape, not meaning: enough that a malformed frame or file is
// rejected with a message instead of crashing deep inside a handler.

import type { Envelope } from './envelope.ts';
import type { StepCommand } from './step.ts';
import type { ToWorker } from './wire.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function isEnvelope(v: unknown): v is Envelope {
  return isObj(v) && isStr(v.id) && isStr(v.from) && isStr(v.to) && isStr(v.task)
    && (v.kind === 'call' || v.kind === 'reply' || v.kind === 'event') && isStr(v.op)
    && isStr(v.stack) && (v.cause === null || isStr(v.cause))
    && isNum(v.seq) && isNum(v.step) && isNum(v.rng);
}

export function isStepCommand(v: unknown): v is StepCommand {
  if (!isObj(v)) return false;
  switch (v.kind) {
    case 'deliver':
      return isEnvelope(v.msg);
    case 'wake':
    case 'resume':
      return isStr(v.task);
    default:
      return false;
  }
}

export function isToWorker(v: unknown): v is ToWorker {
  if (!isObj(v)) return false;
  switch (v.t) {
    case 'step':
      return isStepCommand(v.cmd);
    case 'inject':
      return isEnvelope(v.msg);
    case 'restore':
    case 'reset':
    case 'fence':
      return true;
    default:
      return false;
  }
}
