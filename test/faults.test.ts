import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runExecution } from '../runtime/execution.ts';
import type { HostKind } from '../runtime/hosts/host.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { createHost } from '../cli/run-one.ts';
import { faultyProgram } from './programs/faulty.ts';

async function runFaulty(host: HostKind, op: Parameters<typeof faultyProgram>[0]) {
  const program = faultyProgram(op);
  const h = await createHost(host, program);
  try {
    return await runExecution(h, program, new RandomStrategy(1), { seed: 1 });
  } finally {
    await h.close();
  }
}

describe('faults end the run with a finding, never a hang', () => {
  for (const host of ['inline', 'workers'] as const) {
    it(`${host}: a handler that throws is an actor-crash naming actor, task and stack`, async () => {
      const r = await runFaulty(host, 'nested_throw');
      expect(r.outcome).toBe('aborted');
      const f = r.findings[0]!;
      expect(f.kind).toBe('actor-crash');
      expect(f.title).toBe('actor-crash in faulty.throws');
      expect(f.tasks[0]!.task).toBe('victim');
      expect(f.tasks[0]!.stack).toEqual(['faulty:nested_throw', 'faulty:throws']);
      expect(f.report).toContain('Error: boom in a handler');
      expect(f.report).toContain('faulty:nested_throw');
    });

    it(`${host}: a message to an unknown actor is a protocol-error`, async () => {
      const r = await runFaulty(host, 'to_unknown_actor');
      expect(r.findings.map((f) => [f.kind, f.title])).toEqual([['protocol-error', 'protocol-error in faulty.to_unknown_actor']]);
      expect(r.findings[0]!.report).toContain('unknown actor "nowhere"');
    });

    it(`${host}: a message naming an unknown op is a protocol-error`, async () => {
      const r = await runFaulty(host, 'to_unknown_op');
      expect(r.findings.map((f) => [f.kind, f.title])).toEqual([['protocol-error', 'protocol-error in faulty.no_such_op']]);
    });

    it(`${host}: a handler waiting on a timer is reported instead of hanging the run`, async () => {
      const r = await runFaulty(host, 'stalls');
      expect(r.outcome).toBe('aborted');
      expect(r.findings[0]!.kind).toBe('actor-crash');
      expect(r.findings[0]!.report).toContain('not a kernel primitive');
    });
  }

  it('workers: a worker that dies is an actor-crash naming the actor and task', async () => {
    const r = await runFaulty('workers', 'dies');
    expect(r.outcome).toBe('aborted');
    const f = r.findings[0]!;
    expect(f.kind).toBe('actor-crash');
    expect(f.actor).toBe('faulty');
    expect(f.tasks[0]!.task).toBe('victim');
    expect(f.report).toContain('exited with code 7');
  });

  it('the process exits by itself after a free-mode hang and crashes in the workers host (no orphan worker, no open port)', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-child.ts'], { encoding: 'utf8', timeout: 60_000 });
    expect(child.error).toBeUndefined();
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(child.stdout.trim().split('\n')).toEqual(['free abba hung hung-task', 'dies actor-crash', 'nested_throw actor-crash', 'stalls actor-crash']);
  });
});
