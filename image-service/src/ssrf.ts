import { promises as dns, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Server-side request forgery guard for the HTTP origin source. The address is checked where the
 * connection is made (the socket's own DNS lookup), so what was checked is what is connected to:
 * a name cannot resolve to a public address for the check and to 127.0.0.1 for the connection.
 */

/** Why an address must not be fetched from, or null when it may be. */
export type AddressPolicy = (address: string) => string | null;

const V4_RULES: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT (shared address space)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata lives here)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved or broadcast'],
];

const V6_RULES: [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['fc00::', 7, 'unique-local'],
  ['ff00::', 8, 'multicast'],
];

function v4Groups(address: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = address.split('.').map(Number);
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

function buildRules(): { list: BlockList; reason: string }[] {
  const rules: { list: BlockList; reason: string }[] = [];
  for (const [net, prefix, reason] of V4_RULES) {
    // BlockList matches IPv4-mapped IPv6 (::ffff:a.b.c.d) against IPv4 rules by itself; IPv4
    // embedded by NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reaches the same hosts, so those
    // forms of the range are refused too.
    const list = new BlockList();
    list.addSubnet(net, prefix, 'ipv4');
    list.addSubnet(`64:ff9b::${v4Groups(net)}`, 96 + prefix, 'ipv6');
    list.addSubnet(`2002:${v4Groups(net)}::`, 16 + prefix, 'ipv6');
    rules.push({ list, reason });
  }
  for (const [net, prefix, reason] of V6_RULES) {
    const list = new BlockList();
    list.addSubnet(net, prefix, 'ipv6');
    rules.push({ list, reason });
  }
  return rules;
}

const RULES = buildRules();

/** Refuses loopback, private, link-local, unique-local, CGNAT, multicast and the like. */
export const publicOnly: AddressPolicy = (address) => {
  const family = isIP(address);
  // Resolvers hand back canonical addresses; anything else (0177.0.0.1, 2130706433) is refused
  // rather than guessed at, as different parsers read those forms differently.
  if (family === 0) return `${address} is not a canonical IP address`;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const rule of RULES) {
    if (rule.list.check(address, type)) return `${address} is a ${rule.reason} address`;
  }
  return null;
};

/** HTTP_SOURCE_ALLOW_PRIVATE=true: every address may be fetched from. */
export const anyAddress: AddressPolicy = () => null;

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** Thrown (through the socket) when no resolved address passes the policy. */
export class AddressRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressRefused';
  }
}

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/http/https connection options: resolves with `resolve`, drops every
 * address the policy refuses, and fails the connection when none is left.
 */
export function guardedLookup(resolve: Resolver, policy: AddressPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    resolve(hostname).then(
      (addresses) => {
        const wanted = addresses.filter((a) => !options.family || options.family === a.family || options.family === `IPv${a.family}`);
        const allowed = wanted.filter((a) => policy(a.address) === null);
        const first = allowed[0];
        if (first === undefined) {
          const reasons = wanted.map((a) => policy(a.address)).join('; ');
          callback(new AddressRefused(`${hostname} resolves only to refused addresses (${reasons || 'none'})`), '');
          return;
        }
        if (options.all === true) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), ''),
    );
  };
}

/**
 * Whether `hostname` (as the WHATWG URL parser canonicalized it, lower-case, IPv6 in brackets)
 * is in the allowlist. An entry `*.example.com` allows the subdomains of example.com.
 */
export function hostAllowed(hostname: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => (entry.startsWith('*.') ? hostname.endsWith(entry.slice(1)) : hostname === entry));
}

/** Allowlist entries canonicalized the way URL hostnames are, so `2130706433` means 127.0.0.1. */
export function parseAllowedHosts(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h.length > 0)
    .map((h) => {
      const wildcard = h.startsWith('*.');
      const name = wildcard ? h.slice(2) : h;
      if (!URL.canParse(`http://${name}`) || /[/?#@]/.test(name)) {
        throw new Error(`HTTP_SOURCE_ALLOWED_HOSTS: "${h}" is not a host name`);
      }
      const canonical = new URL(`http://${name}`).hostname;
      return wildcard ? `*.${canonical}` : canonical;
    });
}
