import type { MessagePort, Worker } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

type Listener = Parameters<Endpoint['addEventListener']>[1];

/**
 * comlink's Endpoint over a Node MessagePort or Worker. comlink ships a node
 * adapter, but its typings do not resolve under nodenext (docs/node-runtime.md
 * §3), so we keep this small one.
 */
export function nodeEndpoint(port: MessagePort | Worker): Endpoint {
  const wrapped = new Map<Listener, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: readonly unknown[]) => {
      port.postMessage(message, transfer as never);
    },
    addEventListener: (_type: string, listener: Listener) => {
      const l = (data: unknown): void => {
        const ev = { data } as never;
        if (typeof listener === 'function') listener(ev);
        else listener.handleEvent(ev);
      };
      wrapped.set(listener, l);
      port.on('message', l);
    },
    removeEventListener: (_type: string, listener: Listener) => {
      const l = wrapped.get(listener);
      if (l !== undefined) {
        port.off('message', l);
        wrapped.delete(listener);
      }
    },
    ...('start' in port && typeof port.start === 'function' ? { start: () => (port as MessagePort).start() } : {}),
  };
}
