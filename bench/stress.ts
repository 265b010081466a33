import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { packageRoot } from '../runtime/modules.ts';

/**
 * Stress figures (issue 9): messages/s of `iommu-lab stress` on the default
 * machine (1,024 devices, 16 units, 64 tasks per round), its ratio to the raw
 * one-way postMessage rate measured earlier in the same bench run, and the
 * scale series at 256, 1,024, 4,096 and 16,384 devices — messages/s, peak
 * RSS, boot time and the main thread's longest block (wall clock and its
 * own CPU time, stress/stats.ts LoopBlockProbe) — with
 * `ratios.stressScale4096vs256`, so whether a message costs more on a larger
 * machine can be read off (issue 19: it should not).
 *
 * Each figure is its own `iommu-lab stress --json` process: peak RSS is
 * then that run's (the kernel's high-water mark of a process only grows),
 * and one run's workers and garbage do not weigh on the next. Fixed
 * variants, no replay verification; `quick` runs smaller machines for less
 * time.
 */

interface StressJson {
  readonly messagesPerSec: number;
  readonly peakRssMb: number;
  readonly bootMs: number;
  readonly mainThreadMaxBlockMs: number;
  readonly mainThreadMaxBusyMs: number | null;
  readonly rounds: number;
  readonly operations: number;
  readonly opLatencyMs: { readonly p50: number; readonly p99: number };
}

// the package's bin: beside bench/ in a source checkout, two levels up from the compiled dist/bench/
const BIN = path.join(packageRoot, 'bin', 'iommu-lab.mjs');

function stressRun(devices: number, units: number, tasks: number, seconds: number): Promise<StressJson> {
  const out = mkdtempSync(path.join(tmpdir(), 'iommu-lab-bench-stress-'));
  const args = [BIN, 'stress', '--fixed', '--no-verify', '--json', '--devices', String(devices), '--units', String(units), '--tasks', String(tasks), '--time', String(seconds), '--out', out];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      rmSync(out, { recursive: true, force: true });
      // exit 1 only means findings; the figures are in the JSON either way
      if (err !== null && (err as { code?: unknown }).code !== 1) {
        reject(err);
        return;
      }
      try {
        resolve(JSON.parse(stdout) as StressJson);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

export async function stressFigures(
  quick: boolean, rawOneWayPerSec: number,
  put: (name: string, value: number, unit: string) => void, ratios: Record<string, number>,
): Promise<void> {
  const main = quick ? await stressRun(128, 4, 16, 3) : await stressRun(1024, 16, 64, 30);
  put('stress.messagesPerSec', main.messagesPerSec, 'messages/s');
  put('stress.opLatencyMs.p50', main.opLatencyMs.p50, 'ms');
  put('stress.opLatencyMs.p99', main.opLatencyMs.p99, 'ms');
  ratios.stressVsRawPostMessage = Number((main.messagesPerSec / rawOneWayPerSec).toFixed(4));
  // issue 19: the same churn on ever larger machines; per-operation cost should not grow with N
  // (quick: the two ends of the ratio only; the installed-CLI test runs it and the suite has ten minutes)
  const sizes = quick ? [64, 256] : [256, 1024, 4096, 16384];
  const rate = new Map<number, number>();
  const block = new Map<number, number>();
  const busy = new Map<number, number | null>();
  for (const devices of sizes) {
    // 16 units up to 4,096 devices (256 per unit); beyond, as many as keep 256 per unit (a unit takes at most 400: CLI.md)
    const r = await stressRun(devices, quick ? 4 : Math.max(16, Math.ceil(devices / 256)), quick ? 16 : 64, quick ? 3 : 15);
    rate.set(devices, r.messagesPerSec);
    block.set(devices, r.mainThreadMaxBlockMs);
    busy.set(devices, r.mainThreadMaxBusyMs);
    put(`stress.scale.${devices}.messagesPerSec`, r.messagesPerSec, 'messages/s');
    put(`stress.scale.${devices}.peakRssMb`, r.peakRssMb, 'MB');
    put(`stress.scale.${devices}.bootMs`, r.bootMs, 'ms');
    put(`stress.scale.${devices}.mainThreadMaxBlockMs`, r.mainThreadMaxBlockMs, 'ms');
    if (r.mainThreadMaxBusyMs !== null) put(`stress.scale.${devices}.mainThreadMaxBusyMs`, r.mainThreadMaxBusyMs, 'ms');
  }
  const [small, large] = quick ? [64, 256] : [256, 4096];
  ratios[`stressScale${large}vs${small}`] = Number(((rate.get(large) ?? 0) / (rate.get(small) ?? 1)).toFixed(3));
  // the figure: the main thread's longest block at 4,096 devices (256 in a quick run)
  put('stress.mainThreadMaxBlockMs', block.get(large) ?? 0, 'ms');
  // the same, in the main thread's own CPU time (scheduling waits on a loaded machine left out; Linux only)
  const own = busy.get(large);
  if (own !== undefined && own !== null) put('stress.mainThreadMaxBusyMs', own, 'ms');
}
