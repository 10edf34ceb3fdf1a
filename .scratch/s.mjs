import sharp from 'sharp';
import zlib from 'node:zlib';
const jpg = await sharp({create:{width:400,height:300,channels:3,background:'#f00'}}).jpeg().toBuffer();
const trunc = jpg.subarray(0, Math.floor(jpg.length/2));
console.log(await sharp(trunc).metadata().then(m=>[m.format,m.width,m.height]));
for (const failOn of ['warning','truncated','error','none']) {
  try { const b = await sharp(trunc,{failOn}).resize(100).jpeg().toBuffer(); console.log(failOn,'ok',b.length) } catch(e) { console.log(failOn,'err',e.message) }
}
const png = await sharp({create:{width:10,height:10,channels:3,background:'#0f0'}}).png().toBuffer();
const big = Buffer.from(png); big.writeUInt32BE(30000,16); big.writeUInt32BE(30000,20);
const crc = zlib.crc32(big.subarray(12,29)); big.writeUInt32BE(crc,29);
console.log(await sharp(big,{limitInputPixels:false}).metadata().then(m=>[m.format,m.width,m.height,m.hasAlpha]));
try { await sharp(big,{limitInputPixels: 5e7}).resize(10).toBuffer() } catch(e) { console.log('limit', e.message) }
try { await sharp(Buffer.from('hello world')).metadata() } catch(e) { console.log('nonimg', e.message) }
console.log(typeof sharp.prototype.autoOrient, sharp.counters(), sharp.format.avif.output, Object.keys(sharp.format));
