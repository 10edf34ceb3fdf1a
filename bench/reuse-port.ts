// Bench-only preload (`node --import ./bench/reuse-port.ts ...`): every server this process
// listens with gets SO_REUSEPORT, so that several processes can share one port and the kernel
// spreads connections over them (one process per core). The image service has no such mode of
// its own; this keeps the experiment out of production code.
import net from 'node:net';

type Listen = (...args: unknown[]) => net.Server;
const listen = net.Server.prototype.listen as Listen;

function patched(this: net.Server, ...args: unknown[]): net.Server {
  const [first, second] = args;
  const callback = args.find((a) => typeof a === 'function');
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    const host = typeof second === 'string' ? second : undefined;
    return listen.call(this, { port: Number(first), host, reusePort: true }, callback);
  }
  if (typeof first === 'object' && first !== null) return listen.call(this, { ...first, reusePort: true }, callback);
  return listen.apply(this, args);
}

net.Server.prototype.listen = patched as typeof net.Server.prototype.listen;
