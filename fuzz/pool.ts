import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { codeUrl, poolFilename } from '../runtime/hosts/spawn.ts';
import type { FuzzJob, FuzzJobResult } from './worker.ts';

/**
 * The threads a campaign runs its jobs on: a piscina pool of inline hosts
 * (DESIGN.md §7), one fuzz job (a document, a few schedules) per task.
 */
export class FuzzPool {
  private readonly pool: Piscina;
  readonly threads: number;

  constructor(threads: number) {
    const { filename, workerData } = poolFilename(codeUrl('./worker', import.meta.url));
    this.threads = threads;
    this.pool = new Piscina({ filename: fileURLToPath(filename), workerData, minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
  }

  run(job: FuzzJob): Promise<FuzzJobResult> {
    return this.pool.run(job) as Promise<FuzzJobResult>;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
