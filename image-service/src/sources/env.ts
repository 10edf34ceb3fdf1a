import { z } from 'zod';

/**
 * The sources' own environment variables, apart from the sources so that config.ts can validate
 * them at start without loading the AWS SDK or the HTTP client.
 */

export const s3EnvSchema = z.object({
  S3_ENDPOINT: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://minio:9000' }).optional(),
  S3_REGION: z.string().trim().min(1).optional(),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false'], { error: 'expected true or false' }).optional(),
});
export type S3Env = z.infer<typeof s3EnvSchema>;

export const httpEnvSchema = z.object({
  HTTP_SOURCE_ALLOWED_HOSTS: z.string().optional(),
  HTTP_SOURCE_ALLOW_PRIVATE: z.enum(['true', 'false'], { error: 'expected true or false' }).optional(),
});
export type HttpEnv = z.infer<typeof httpEnvSchema>;
