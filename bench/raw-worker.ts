import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

/**
 * Raw postMessage baselines, measured in the same run as our own figures:
 * `echo` answers every message on its port (round trips); `relay` forwards
 * every message to the next worker of a ring and counts them; the main
 * thread asks a relay to start tokens through `parentPort`.
 */
const { mode, port, next, counter } = workerData as { mode: 'echo' | 'relay'; port: MessagePort; next?: MessagePort; counter?: SharedArrayBuffer };
if (mode === 'echo') {
  port.on('message', (m: unknown) => port.postMessage(m));
} else {
  const c = new Int32Array(counter as SharedArrayBuffer);
  const out = next as MessagePort;
  port.on('message', (m: { left: number }) => {
    Atomics.add(c, 0, 1);
    if (m.left > 0) out.postMessage({ ...m, left: m.left - 1 });
  });
  parentPort?.on('message', (m: { tokens: number; hops: number }) => {
    for (let i = 0; i < m.tokens; i++) out.postMessage({ left: m.hops, id: i, kind: 'call', op: 'hop' });
  });
}
parentPort?.postMessage('ready');
