/**
 * `canopy testnet`: a local DHT bootstrap network, for a LAN with no internet and for
 * tests. Devices point at it with `canopy daemon --bootstrap HOST:PORT`.
 */
import createTestnet from 'hyperdht/testnet.js';

export interface RunningTestnet {
  bootstrap: string[];
  stop(): Promise<void>;
}

export async function startTestnet(opts: { port?: number; host?: string; nodes?: number } = {}): Promise<RunningTestnet> {
  const host = opts.host ?? '127.0.0.1';
  const net = await createTestnet(opts.nodes ?? 3, { host, port: opts.port ?? 0 });
  return {
    bootstrap: net.bootstrap.map((b) => `${b.host}:${b.port}`),
    stop: () => net.destroy(),
  };
}
