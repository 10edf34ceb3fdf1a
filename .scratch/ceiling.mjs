import sharp from 'sharp';
import { readFileSync, readdirSync } from 'node:fs';
sharp.cache(false); sharp.concurrency(1);
const files = readdirSync('/tmp/corpus-one').map(f => readFileSync('/tmp/corpus-one/' + f));
let n = 0; const t = performance.now();
while (performance.now() - t < 10000) { await sharp(files[n % files.length]).resize({width: 640}).jpeg({quality: 80}).toBuffer(); n++; }
console.log('ceiling img/s', (n / ((performance.now() - t) / 1000)).toFixed(1));
