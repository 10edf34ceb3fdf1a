// ipx (the sharp-based image server most Node users pick) served with its own Node adapter
// over the benchmark corpus: /w_640,f_jpeg,q_80/<key>.
import { createServer } from 'node:http';
import { createIPX, createIPXNodeServer, ipxFSStorage } from 'ipx';
import { ServerEnvSchema } from './server-env.ts';

const env = ServerEnvSchema.parse(process.env);

const ipx = createIPX({ storage: ipxFSStorage({ dir: env.BENCH_IMAGE_ROOT }) });
const server = createServer(createIPXNodeServer(ipx));
server.listen(env.PORT, env.HOST);
process.on('SIGTERM', () => process.exit(0));
