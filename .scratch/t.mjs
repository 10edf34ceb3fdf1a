import sharp from 'sharp';
sharp.concurrency(1); sharp.cache(false);
let t=performance.now();
const big = await sharp({create:{width:3000,height:2000,channels:3,noise:{type:'gaussian',mean:128,sigma:40}}}).jpeg({quality:90}).toBuffer();
console.log('gen', performance.now()-t, big.length); t=performance.now();
for (const [w,fm] of [[2000,'png'],[1500,'webp'],[2500,'jpeg'],[640,'jpeg']]) { t=performance.now(); await sharp(big).resize({width:w}).toFormat(fm).toBuffer(); console.log(w,fm,performance.now()-t); }
