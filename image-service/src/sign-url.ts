import { parseSigningKeys, signUrl } from './signing.ts';

/**
 * `npm run sign-url -- '/image/files/a.jpg?w=200'`: prints the URL signed with the first key of
 * IMAGE_SERVICE_SIGNING_KEYS (the key the service signs with; every listed key verifies).
 */
const target = process.argv[2];
const [key] = parseSigningKeys(process.env.IMAGE_SERVICE_SIGNING_KEYS);
if (target === undefined || !target.startsWith('/')) {
  process.stderr.write("usage: npm run sign-url -- '/image/files/KEY?w=200&fm=webp' (IMAGE_SERVICE_SIGNING_KEYS set)\n");
  process.exit(2);
}
if (key === undefined) {
  process.stderr.write('IMAGE_SERVICE_SIGNING_KEYS is not set: there is no key to sign with\n');
  process.exit(2);
}
process.stdout.write(`${signUrl(target, key)}\n`);
