// The environment of the bench's own servers (naive, ipx): where the photographs are, where to listen.
import { z } from 'zod';

export const ServerEnvSchema = z.object({
  BENCH_IMAGE_ROOT: z.string().min(1),
  PORT: z.coerce.number().int().min(0).max(65535),
  HOST: z.string().default('127.0.0.1'),
});
