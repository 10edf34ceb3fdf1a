import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/**
 * A real S3-protocol server (s3rver) on 127.0.0.1 and an ephemeral port, with one bucket, for
 * tests. Its access key pair is s3rver's fixed S3RVER/S3RVER, handed over through the standard
 * AWS environment variables so the source's default credential chain is what gets exercised.
 */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  /** Files behind the bucket, to assert what was (not) stored. */
  directory: string;
  close(): Promise<void>;
}

export const LOCAL_S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export async function startLocalS3(bucket = 'originals'): Promise<LocalS3> {
  const directory = await mkdtemp(join(tmpdir(), 'imageops-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  Object.assign(process.env, LOCAL_S3_ENV);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    directory,
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
