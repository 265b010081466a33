import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/** The sharding recipes of docs/fuzz.md, checked against the schemas of the systems that would run them. */
const recipe = (f: string): string => readFileSync(path.join(import.meta.dirname, '..', 'docs', 'recipes', f), 'utf8');

describe('docs/fuzz.md sharding recipes', () => {
  it('the GitHub Actions matrix is a valid workflow that survives a shard finding something', () => {
    const text = recipe('fuzz-matrix.yml');
    expect(validateWorkflow(text).errors).toEqual([]);
    const wf = parse(text) as { jobs: Record<string, { strategy?: { 'fail-fast'?: boolean }; if?: string; needs?: string; steps: { if?: string; run?: string; uses?: string }[] }> };
    const shard = wf.jobs['shard']!;
    expect(shard.strategy?.['fail-fast']).toBe(false);
    expect(shard.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'))?.if).toBe('always()');
    expect(shard.steps.find((s) => s.run?.includes('iommu-lab fuzz'))?.run).toMatch(/--fixed --seed 42 --shard \$\{\{ matrix\.shard \}\}\/8/);
    expect([wf.jobs['merge']!.needs, wf.jobs['merge']!.if]).toEqual(['shard', 'always()']);
    // the validator does catch a broken workflow (a test that cannot fail proves nothing)
    expect(validateWorkflow(text.replace('runs-on: ubuntu-latest', 'runs-onn: ubuntu-latest')).errors.length).toBeGreaterThan(0);
  });

  it('the Kubernetes Indexed Job is valid against the Kubernetes schema: exit 1 is not retried, results on a shared volume, --fixed', () => {
    const doc = parse(recipe('fuzz-job.yaml')) as Record<string, unknown>;
    const job = new Job(doc as ConstructorParameters<typeof Job>[0]);
    expect(() => job.validate()).not.toThrow();
    expect(job.spec?.completionMode).toBe('Indexed');
    const rules = job.spec?.podFailurePolicy?.rules ?? [];
    expect(rules.find((r) => r.onExitCodes?.values.includes(1))?.action).toBe('FailIndex');
    const c = job.spec?.template.spec?.containers[0];
    expect(c?.args?.join(' ')).toMatch(/--fixed --seed 42\s+--shard \$\(\(JOB_COMPLETION_INDEX\+1\)\)\/8/);
    expect(job.spec?.template.spec?.volumes?.[0]?.persistentVolumeClaim?.claimName).toBe('fuzz-results');
    // and the schema does reject a broken Job
    const broken = new Job({ ...doc, spec: { ...(doc.spec as object), completions: 'eight' } } as unknown as ConstructorParameters<typeof Job>[0]);
    expect(() => broken.validate()).toThrow();
  });
});
