import { openFileSource } from './file.ts';
import type { HttpEnv, S3Env } from './env.ts';
import { createHttpSource, httpOptionsFrom } from './http.ts';
import { createS3Source, s3OptionsFrom } from './s3.ts';
import type { Source } from './source.ts';

/** IMAGE_SOURCE as config.ts validated it: the scheme picks the source. */
export type SourceLocation = { kind: 'file'; root: string } | { kind: 's3' | 'http'; url: string };

/** Opens the configured source; throws an Error with a one-line message on a bad setting. */
export async function openSource(location: SourceLocation, env: S3Env & HttpEnv): Promise<Source> {
  switch (location.kind) {
    case 'file':
      return openFileSource(location.root);
    case 's3':
      return createS3Source(s3OptionsFrom(location.url, env));
    case 'http':
      return createHttpSource(httpOptionsFrom(location.url, env));
  }
}
