import { describe, expect, it } from 'vitest';
import { ResultPoll } from '../runtime/hosts/result-poll.ts';
import type { ThreadSched } from '../runtime/thread-sched.ts';

/** A scheduler clock the test moves: `wait` ns of run-queue wait so far. */
function clock(): { read: () => ThreadSched | null; wait: number } {
  const c = { wait: 0, read: (): ThreadSched | null => ({ cpuNs: 0, waitNs: c.wait }) };
  return c;
}

/** Runs one window of 128 steps, the thread waiting `perStepNs` for a CPU each; returns how many of them polled. */
function window(p: ResultPoll, c: { wait: number }, perStepNs: number): number {
  let polled = 0;
  for (let i = 0; i < 128; i++) {
    c.wait += perStepNs;
    if (p.step()) polled++;
  }
  return polled;
}

describe('ResultPoll: the workers host polls for a step result only while its thread gets a CPU at once', () => {
  it('polls on a quiet machine, window after window', () => {
    const c = clock();
    const p = new ResultPoll(c.read);
    for (let w = 0; w < 5; w++) expect(window(p, c, 500)).toBe(128);
  });

  it('stops after a contended window, tries again after 1, 2, 4 windows off, and polls again once it is quiet', () => {
    const c = clock();
    const p = new ResultPoll(c.read);
    // a window is judged at its last step, whose answer is already the next window's
    expect(window(p, c, 50_000)).toBe(127); // contended: one window off
    expect(window(p, c, 50_000)).toBe(1); // …then a trial window
    expect(window(p, c, 50_000)).toBe(127); // the trial, contended: two windows off
    expect(window(p, c, 50_000)).toBe(0);
    expect(window(p, c, 50_000)).toBe(1);
    expect(window(p, c, 50_000)).toBe(127); // contended again: four windows off
    expect(window(p, c, 500)).toBe(0);
    expect(window(p, c, 500)).toBe(0);
    expect(window(p, c, 500)).toBe(0);
    expect(window(p, c, 500)).toBe(1);
    expect(window(p, c, 500)).toBe(128); // the trial was quiet: polling stays
    expect(window(p, c, 50_000)).toBe(127); // and the back-off starts over at one window
    expect(window(p, c, 500)).toBe(1);
  });

  it('never polls where there is no schedstat', () => {
    const p = new ResultPoll(() => null);
    expect(window(p, { wait: 0 }, 0)).toBe(0);
  });
});
