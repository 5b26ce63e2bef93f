/**
 * One end of a raw-throughput measurement, in its own process: a bare Hyperswarm stream
 * (same DHT setup as a device on the loopback testnet) or plain TCP on 127.0.0.1. The
 * receiver prints `{"ready":...}` once it can be reached; the sender writes BYTES as fast
 * as backpressure lets it, the receiver answers one byte after the last one arrived, and
 * the sender prints the time from its first write to that answer, and its own CPU meanwhile.
 * Used only by the sync benchmark, as the ceiling sync's own large-file speed is compared with.
 *
 *   sync-raw-child hs-recv BOOTSTRAP TOPIC_HEX BYTES
 *   sync-raw-child hs-send BOOTSTRAP TOPIC_HEX BYTES
 *   sync-raw-child tcp-recv BYTES
 *   sync-raw-child tcp-send PORT BYTES
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import Hyperswarm from 'hyperswarm';
import DHT from 'hyperdht';
import { parseHostPort } from '../net/network.js';
import { seededBytes } from '../testing/index.js';

const PIECE = 1024 * 1024;
const print = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'hs-recv' || mode === 'hs-send') {
    const [bootstrap, topicHex, bytes] = args as [string, string, string];
    const dht = new DHT({ bootstrap: [parseHostPort(bootstrap)], host: '127.0.0.1', firewalled: false });
    const swarm = new Hyperswarm({ dht });
    const topic = Buffer.from(topicHex, 'hex');
    const total = Number(bytes);
    const done = new Promise<void>((resolve, reject) => {
      swarm.on('connection', (stream) => {
        stream.on('error', () => undefined);
        const work = mode === 'hs-recv' ? receive(stream, total) : send(stream, total);
        work.then(resolve, reject);
      });
    });
    if (mode === 'hs-recv') {
      await swarm.join(topic, { server: true, client: false }).flushed();
      print({ ready: true });
    } else {
      swarm.join(topic, { server: false, client: true });
    }
    await done;
    await swarm.destroy();
    return;
  }
  if (mode === 'tcp-recv') {
    const total = Number(args[0]);
    const server = net.createServer();
    const done = new Promise<void>((resolve, reject) => server.once('connection', (sock) => receive(sock, total).then(resolve, reject)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    print({ ready: true, port: (server.address() as net.AddressInfo).port });
    await done;
    server.close();
    return;
  }
  if (mode === 'tcp-send') {
    const [port, bytes] = args as [string, string];
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    await send(sock, Number(bytes));
    return;
  }
  throw new Error('usage: sync-raw-child hs-recv|hs-send|tcp-recv|tcp-send ...');
}

/** Counts bytes until `total` arrived, then answers one byte and waits for the sender to close. */
function receive(stream: Duplex, total: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    stream.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= total) stream.end(Buffer.from([1]));
    });
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', reject);
  });
}

/** Writes `total` bytes (random, 1 MiB pieces, respecting backpressure), then waits for the answer. */
async function send(stream: Duplex, total: number): Promise<void> {
  const piece = seededBytes('raw-stream', PIECE);
  const acked = new Promise<void>((resolve, reject) => {
    stream.once('data', () => resolve());
    stream.once('error', reject);
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let sent = 0; sent < total; sent += PIECE) {
    const n = Math.min(PIECE, total - sent);
    if (!stream.write(n === PIECE ? piece : piece.subarray(0, n))) await new Promise((r) => stream.once('drain', r));
  }
  await acked;
  const seconds = (performance.now() - t0) / 1000;
  // The sender's own CPU over the timed writes only (its startup and connecting are not the stream's cost).
  const cpu = process.cpuUsage(cpu0);
  print({ bytes: total, seconds, cpuUser: cpu.user / 1e6, cpuSystem: cpu.system / 1e6 });
  stream.end();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
