/**
 * A task's call stack as it travels: frames ("actor:op"), outermost first,
 * joined by newlines. Pushing a frame is a string concatenation and popping
 * one a slice; reports and events split it into frames when they need them.
 */
export type WireStack = string & { readonly __brand: 'WireStack' };

export const EMPTY_STACK = '' as WireStack;

export function pushFrame(stack: WireStack, frame: string): WireStack {
  return (stack === '' ? frame : `${stack}\n${frame}`) as WireStack;
}

export function popFrame(stack: WireStack): WireStack {
  const i = stack.lastIndexOf('\n');
  return (i < 0 ? '' : stack.slice(0, i)) as WireStack;
}

export function frames(stack: WireStack): string[] {
  return stack === '' ? [] : stack.split('\n');
}

/**
 * `frames`, for an event: frozen, and the same array for the same stack
 * while it is in the cache (a run meets a few hundred distinct stacks). The
 * scheduler derives a `send` event per call and reply and a `task.start`/
 * `task.end` per task; a split per event was 3–5 % of a checked schedule and
 * as much garbage (issue 19). Frozen, a checker's snapshot shares it too.
 */
export function eventFrames(stack: WireStack): readonly string[] {
  let f = eventFrameCache.get(stack);
  if (f === undefined) {
    if (eventFrameCache.size >= EVENT_FRAME_CACHE) eventFrameCache.clear();
    f = Object.freeze(frames(stack));
    eventFrameCache.set(stack, f);
  }
  return f;
}

const EVENT_FRAME_CACHE = 4096;
const eventFrameCache = new Map<string, readonly string[]>();
