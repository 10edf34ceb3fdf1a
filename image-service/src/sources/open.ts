import type { HttpEnv, S3Env } from './env.ts';
import { openFileSource } from './file.ts';
import type { Source } from './source.ts';

/** IMAGE_SOURCE as config.ts validated it: the scheme picks the source. */
export type SourceLocation = { kind: 'file'; root: string } | { kind: 's3' | 'http'; url: string };

/**
 * Opens the configured source; throws an Error with a one-line message on a bad setting. The S3
 * and HTTP sources are loaded only when configured: the AWS SDK is resident memory that a
 * file-backed service would carry for nothing (docs/benchmarks.md, "Results: runs of 2026-12-06").
 */
export async function openSource(location: SourceLocation, env: S3Env & HttpEnv): Promise<Source> {
  switch (location.kind) {
    case 'file':
      return openFileSource(location.root);
    case 's3': {
      const { createS3Source, s3OptionsFrom } = await import('./s3.ts');
      return createS3Source(s3OptionsFrom(location.url, env));
    }
    case 'http': {
      const { createHttpSource, httpOptionsFrom } = await import('./http.ts');
      return createHttpSource(httpOptionsFrom(location.url, env));
    }
  }
}
