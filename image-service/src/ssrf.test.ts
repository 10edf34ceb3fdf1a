import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { guardedLookup, hostAllowed, parseAllowedHosts, publicOnly } from './ssrf.ts';

describe('publicOnly', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['10.0.0.1', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local/],
    ['100.64.0.1', /carrier-grade/],
    ['0.0.0.0', /unspecified/],
    ['255.255.255.255', /broadcast/],
    ['224.0.0.1', /multicast/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fe80::1', /link-local/],
    ['fc00::1', /unique-local/],
    ['fd12:3456::1', /unique-local/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:a9fe:a9fe', /link-local/],
    ['::ffff:10.1.2.3', /private/],
    ['64:ff9b::a00:1', /private/],
    ['2002:7f00:1::', /loopback/],
    ['2130706433', /not a canonical IP/],
    ['0177.0.0.1', /not a canonical IP/],
    ['0x7f.0.0.1', /not a canonical IP/],
    ['localhost', /not a canonical IP/],
  ])('refuses %s', (address, reason) => {
    expect(publicOnly(address)).toMatch(reason);
  });

  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('accepts public %s', (address) => {
    expect(publicOnly(address)).toBeNull();
  });
});

describe('guardedLookup', () => {
  const lookupWith = (answers: LookupAddress[], all: boolean) =>
    new Promise<{ err: Error | null; result: unknown }>((resolve) => {
      guardedLookup(async () => answers, publicOnly)('images.example.test', { all }, (err, address) => resolve({ err, result: address }));
    });

  it('hands over only the addresses that pass', async () => {
    const answers: LookupAddress[] = [
      { address: '10.0.0.1', family: 4 },
      { address: '93.184.215.14', family: 4 },
    ];
    expect((await lookupWith(answers, true)).result).toEqual([{ address: '93.184.215.14', family: 4 }]);
    expect((await lookupWith(answers, false)).result).toBe('93.184.215.14');
  });

  it('fails when every address is refused, saying why', async () => {
    const { err } = await lookupWith(
      [
        { address: '169.254.169.254', family: 4 },
        { address: '::1', family: 6 },
      ],
      true,
    );
    expect(err?.message).toMatch(/images\.example\.test resolves only to refused addresses.*link-local.*loopback/);
  });
});

describe('allowed hosts', () => {
  it('canonicalizes entries like URL host names', () => {
    expect(parseAllowedHosts(' Images.Example.com, *.CDN.example.com,2130706433 ,')).toEqual(['images.example.com', '*.cdn.example.com', '127.0.0.1']);
    expect(() => parseAllowedHosts('a b')).toThrow(/HTTP_SOURCE_ALLOWED_HOSTS: "a b" is not a host name/);
  });

  it('matches exact names and wildcard subdomains only', () => {
    const allowed = ['images.example.com', '*.cdn.example.com'];
    expect(hostAllowed('images.example.com', allowed)).toBe(true);
    expect(hostAllowed('eu.cdn.example.com', allowed)).toBe(true);
    expect(hostAllowed('cdn.example.com', allowed)).toBe(false);
    expect(hostAllowed('evilcdn.example.com', allowed)).toBe(false);
    expect(hostAllowed('images.example.com.evil.test', allowed)).toBe(false);
  });
});
