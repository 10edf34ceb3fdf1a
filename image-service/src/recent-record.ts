import { z } from 'zod';

/**
 * The wire format of the service's record of recent requests, served on its management port
 * (recent.ts) and read by the operator's output check (operator/src/canary/traffic.ts). It lives
 * with the service and imports only zod, so the operator's image copies this one file.
 */

/** Path of the record on the management port. */
export const RECENT_PATH = '/recent-requests';
/** Most entries the record keeps. */
export const MAX_RECENT_ENTRIES = 64;
/** Most bytes of keys and parameters the record keeps: fewer entries when keys are long. */
export const MAX_RECENT_BYTES = 32 * 1024;
/**
 * A request carrying this header is not recorded: the output check's own fetches, which would
 * otherwise fill a quiet primary's record with the listed samples.
 */
export const UNRECORDED_HEADER = 'x-imageops-unrecorded';
/** Longest key the service accepts (S3's limit; params.ts refuses longer ones with 400). */
const MAX_KEY_BYTES = 1024;

export const RecentEntrySchema = z.strictObject({
  key: z.string().min(1).max(MAX_KEY_BYTES).describe('The image key as decoded from the path.'),
  params: z
    .string()
    .max(128)
    .regex(/^[a-z0-9=&]*$/, 'params must be a normalised query string such as w=640&fit=inside&q=80&fm=auto')
    .describe('The resize parameters as the service parsed them (presets expanded), as a query string.'),
});

export const RecentRecordSchema = z.strictObject({
  entries: z.array(RecentEntrySchema).max(MAX_RECENT_ENTRIES).describe('Distinct requests, the most recent first.'),
});

export type RecentEntry = z.infer<typeof RecentEntrySchema>;
export type RecentRecord = z.infer<typeof RecentRecordSchema>;
