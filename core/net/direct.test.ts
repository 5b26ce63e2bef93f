/**
 * Direct links over real TCP sockets on loopback, with real device keys: who may connect,
 * who may be dialed, and that what goes in comes out on the other side.
 */
import { randomBytes } from 'node:crypto';
import type os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { identityFromSeed, type Identity } from '../identity/index.js';
import { ANY_HOST, lanAddresses } from './addresses.js';
import { dialable, DirectLinks } from './direct.js';
import { localDhtOptions, type PeerConnection } from './network.js';

const started: DirectLinks[] = [];
afterEach(async () => {
  for (const d of started.splice(0)) await d.stop();
});

function device(): Identity {
  return identityFromSeed(randomBytes(32));
}

async function listener(identity: Identity, members: Identity[], timing: { keepAliveMs?: number; silentLimitMs?: number } = {}, bindHost = '127.0.0.1'): Promise<{ links: DirectLinks; connections: PeerConnection[]; log: string[] }> {
  const connections: PeerConnection[] = [];
  const log: string[] = [];
  const links = new DirectLinks({
    identity, bindHost, port: 0, log: (l) => log.push(l), ...timing,
    isMember: (pk) => members.some((m) => Buffer.from(m.publicKey).equals(pk)),
  });
  links.on('connection', (c) => connections.push(c));
  started.push(links);
  await links.start();
  return { links, connections, log };
}

const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
};

describe('direct links', () => {
  it('connects two paired devices, each proving its key, and carries bytes both ways', async () => {
    const [a, b] = [device(), device()];
    const la = await listener(a, [b]);
    const lb = await listener(b, [a]);
    expect(lb.links.addresses()).toEqual([{ host: '127.0.0.1', port: expect.any(Number) }]);

    expect(await la.links.dial(Buffer.from(b.publicKey), lb.links.addresses())).toBe(true);
    await until(() => lb.connections.length === 1, 'the listener to accept');
    const [out, inc] = [la.connections[0] as PeerConnection, lb.connections[0] as PeerConnection];
    expect(out.deviceId).toBe(b.deviceId);
    expect(inc.deviceId).toBe(a.deviceId);
    expect(out.direct && inc.direct).toBe(true);

    const got: Buffer[] = [];
    inc.stream.on('data', (d: Buffer) => got.push(d));
    out.stream.write(Buffer.from('hello over tcp'));
    await until(() => Buffer.concat(got).toString() === 'hello over tcp', 'the bytes to arrive');
  });

  it('refuses a device that is not paired, after the handshake and before any message', async () => {
    const [a, stranger] = [device(), device()];
    const la = await listener(a, []); // a knows no one
    const ls = await listener(stranger, [a]);
    // The stranger's dial completes its own handshake, but a closes the link at once.
    await ls.links.dial(Buffer.from(a.publicKey), la.links.addresses());
    await until(() => la.log.some((l) => l.includes('refused unpaired device')), 'the refusal');
    expect(la.connections).toHaveLength(0);
  });

  it('does not keep a link to whoever answers at an address if it is not the device that offered it', async () => {
    const [a, b, impostor] = [device(), device(), device()];
    const la = await listener(a, [b, impostor]);
    const li = await listener(impostor, [a]);
    // b's offer, but the impostor listens at that address.
    expect(await la.links.dial(Buffer.from(b.publicKey), li.links.addresses())).toBe(false);
    expect(la.connections).toHaveLength(0);
    expect(la.log.join('\n')).toMatch(/another device .* answered/);
  });

  it('gives up on an address where nothing listens, with a logged reason', async () => {
    const [a, b] = [device(), device()];
    const la = await listener(a, [b]);
    const lb = await listener(b, [a]);
    const port = (lb.links.addresses()[0] as { port: number }).port;
    await lb.links.stop();
    expect(await la.links.dial(Buffer.from(b.publicKey), [{ host: '127.0.0.1', port }])).toBe(false);
    expect(la.log.join('\n')).toMatch(/failed: .*ECONNREFUSED/);
  });

  it('keeps an idle link alive, and drops a link whose other end fell silent', async () => {
    const [a, b] = [device(), device()];
    const timing = { keepAliveMs: 100, silentLimitMs: 600 };
    const la = await listener(a, [b], timing);
    const lb = await listener(b, [a], timing);
    expect(await la.links.dial(Buffer.from(b.publicKey), lb.links.addresses())).toBe(true);
    await until(() => lb.connections.length === 1, 'the listener to accept');
    const out = la.connections[0] as PeerConnection;
    let closed = false;
    out.stream.on('close', () => (closed = true));
    // Idle for three silence limits: the keep-alives hold it up.
    await new Promise((r) => setTimeout(r, 1800));
    expect(closed).toBe(false);
    // b's side stops sending anything (as a machine that lost power would): a drops the link.
    const bSocket = ((lb.connections[0] as PeerConnection).stream as unknown as { rawStream: { cork(): void } }).rawStream;
    bSocket.cork();
    await until(() => closed, 'a to drop the silent link');
    expect(la.log.join('\n')).toMatch(/nothing heard for 0.6 s; dropping it/);
  });

  it('dials only addresses no internet host can hold, with a real port', () => {
    const yes = [
      '127.0.0.1', '10.1.2.3', '192.168.1.20', '172.16.0.9', '172.31.255.1', '169.254.3.4',
      '100.64.0.1', '100.101.102.103', '100.127.255.254', // carrier NAT and VPN meshes (Tailscale)
      '::1', 'fd00::2', 'fd7a:115c:a1e0::1', 'fc00::1', '::ffff:10.0.0.1',
    ];
    const no = [
      '8.8.8.8', '172.32.0.1', '11.0.0.1', '100.63.255.255', '100.128.0.1', '192.0.2.2', 'example.org', 'localhost', '192.168.1', '',
      '2001:db8::1', '2606:4700::1111', 'fe80::1', 'fe80::1%eth0', '::ffff:8.8.8.8', '::',
    ];
    for (const host of yes) expect(dialable({ host, port: 22000 }), host).toBe(true);
    for (const host of no) expect(dialable({ host, port: 22000 }), host).toBe(false);
    for (const port of [0, -1, 65536, 1.5, Number.NaN]) expect(dialable({ host: '10.0.0.1', port })).toBe(false);
  });

  it('never dials a public IPv4 address, whatever a peer offers', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const publicIPv4 = fc.tuple(octet, octet, octet, octet)
      .filter(([x, y]) => x !== 10 && x !== 127 && !(x === 192 && y === 168) && !(x === 172 && y >= 16 && y <= 31) && !(x === 169 && y === 254) && !(x === 100 && y >= 64 && y <= 127))
      .map((o) => o.join('.'));
    fc.assert(fc.property(publicIPv4, fc.integer({ min: 1, max: 65535 }), (host, port) => !dialable({ host, port })));
  });

  it('never dials a global IPv6 address, whatever a peer offers', () => {
    // Anything outside fc00::/7 and ::1: the first 16 bits not 0xfc00-0xfdff (and not all zero).
    const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    const globalIPv6 = fc.tuple(fc.integer({ min: 1, max: 0xffff }).filter((n) => n >> 9 !== 0x7e), fc.array(group, { minLength: 7, maxLength: 7 }))
      .map(([first, rest]) => [first.toString(16), ...rest].join(':'));
    fc.assert(fc.property(globalIPv6, fc.integer({ min: 1, max: 65535 }), (host, port) => !dialable({ host, port })));
  });

  it('offers this machine\'s dialable addresses, IPv4 first, and none that is internal, global or link-local', () => {
    const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as os.NetworkInterfaceInfo;
    const interfaces = {
      lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
      eth0: [nic('fd00::2', 'IPv6'), nic('192.168.1.20', 'IPv4'), nic('fe80::fc:ff:fe00:1', 'IPv6'), nic('2001:db8::5', 'IPv6')],
      tailscale0: [nic('fd7a:115c:a1e0::9', 'IPv6'), nic('100.101.102.103', 'IPv4')],
      wan: [nic('203.0.113.7', 'IPv4')],
    };
    expect(lanAddresses(interfaces)).toEqual(['192.168.1.20', '100.101.102.103', 'fd00::2', 'fd7a:115c:a1e0::9']);
  });

  it('links over IPv6 loopback, and a device listening on every address takes IPv4 links too', async () => {
    const [a, b, c] = [device(), device(), device()];
    const la = await listener(a, [b, c]);
    const lb = await listener(b, [a], {}, '::1');
    expect(lb.links.addresses()).toEqual([{ host: '::1', port: expect.any(Number) }]);
    expect(await la.links.dial(Buffer.from(b.publicKey), lb.links.addresses())).toBe(true);
    await until(() => lb.connections.length === 1, 'b to accept over ::1');

    const lc = await listener(c, [a], {}, ANY_HOST);
    const port = (lc.links as unknown as { server: { address(): { port: number } } }).server.address().port;
    expect(await la.links.dial(Buffer.from(c.publicKey), [{ host: '127.0.0.1', port }])).toBe(true);
    await until(() => lc.connections.length === 1, 'c to accept over IPv4');
    expect(lc.connections[0]?.deviceId).toBe(a.deviceId);
  });

  it('listens on every address when the DHT is the public one, on loopback only for a loopback testnet, and runs as a LAN\'s when every bootstrap node is private', () => {
    expect(localDhtOptions([])).toEqual({});
    expect(localDhtOptions([{ host: '127.0.0.1' }])).toMatchObject({ host: '127.0.0.1' });
    expect(localDhtOptions([{ host: '192.168.1.5' }])).toEqual({ firewalled: false });
    expect(localDhtOptions([{ host: '100.101.102.103' }, { host: '10.0.0.2' }])).toEqual({ firewalled: false });
    expect(localDhtOptions([{ host: '192.168.1.5' }, { host: '203.0.113.9' }])).toEqual({});
    expect(localDhtOptions([{ host: 'bootstrap.example.org' }])).toEqual({});
  });
});
