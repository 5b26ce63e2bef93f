/**
 * Which IP addresses are private: ones no host on the internet can hold. Direct links offer
 * and dial only these (a paired device must not be able to point us at the internet), and
 * a DHT whose bootstrap nodes are all private runs as a LAN's (network.ts).
 */
import net from 'node:net';
import os from 'node:os';

/** The host to listen on for every address, IPv6 and IPv4 (Linux, macOS and Windows take both on '::')... */
export const ANY_HOST = '::';
/** ...and for every IPv4 address, where IPv6 is turned off. */
export const ANY_IPV4_HOST = '0.0.0.0';

/**
 * The private addresses:
 * - IPv4 private networks (RFC 1918), link-local (169.254/16) and loopback;
 * - the shared address space 100.64/10 (RFC 6598): carrier NAT, and the addresses VPN
 *   meshes such as Tailscale give each device, so devices on one tailnet link directly;
 * - IPv6 unique local addresses (fc00::/7, which VPN meshes use too) and loopback.
 * IPv6 link-local addresses (fe80::/10) are left out: dialing one needs the name of the
 * local interface it is on, which the peer cannot know. A BlockList also matches an
 * IPv4-mapped IPv6 address (::ffff:10.0.0.1) against the IPv4 ranges.
 */
const PRIVATE = new net.BlockList();
for (const [network, prefix] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16], ['100.64.0.0', 10], ['127.0.0.0', 8]] as const) {
  PRIVATE.addSubnet(network, prefix, 'ipv4');
}
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addAddress('::1', 'ipv6');

/** Whether `host` is an IP address (not a name) in PRIVATE. */
export function isPrivateAddress(host: string): boolean {
  const family = net.isIP(host);
  return family !== 0 && PRIVATE.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** This machine's addresses that peers on its networks may dial (IPv4 first: every LAN has it). */
export function lanAddresses(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string[] {
  const out: { host: string; v6: boolean }[] = [];
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) if (!i.internal && isPrivateAddress(i.address)) out.push({ host: i.address, v6: i.family === 'IPv6' });
  }
  return out.sort((x, y) => Number(x.v6) - Number(y.v6)).map((x) => x.host);
}

/** A loopback address: nothing but this machine can reach it. */
export function isLoopback(host: string): boolean {
  return net.isIPv4(host) ? host.startsWith('127.') : host === '::1';
}
