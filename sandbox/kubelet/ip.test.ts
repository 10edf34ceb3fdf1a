import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { bindable, PodIpAllocator } from './ip.ts';

describe('pod addresses', () => {
  it('hands out distinct loopback addresses in its /16 and reuses released ones', async () => {
    const ips = new PodIpAllocator(77, 254);
    const a = await ips.allocate();
    const b = await ips.allocate();
    expect(a).toBe('127.77.0.254');
    expect(b).toBe('127.77.1.1'); // .255 and .0 are skipped
    ips.release(a);
    expect(ips.prefix).toBe('127.77');
  });

  it('skips an address where a pod port is already taken (another sandbox in the same /16)', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.78.0.2', r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      expect(await bindable('127.78.0.2', [port])).toBe(false);
      const ips = new PodIpAllocator(78, 2);
      expect(await ips.allocate([port])).toBe('127.78.0.3');
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
