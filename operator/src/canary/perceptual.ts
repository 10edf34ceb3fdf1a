// The perceptual difference of two decoded pictures of the same size, in CIELAB: SSIM on
// lightness (structure: blur, blocking, ringing) and the mean CIEDE2000 colour difference
// (colour: a hue, white balance or ICC change that leaves lightness and structure alone). Pure
// arithmetic on Lab pixels; decoding is output.ts's. docs/canary.md says why these two.

/** Three floats a pixel, L* a* b* (sharp's `toColourspace('lab')` with float output). */
export interface LabImage {
  width: number;
  height: number;
  data: Float32Array;
}

const WINDOW = 8;
const STRIDE = 4;
// SSIM's stabilisers for a dynamic range of 100 (L* runs from 0 to 100).
const C1 = (0.01 * 100) ** 2;
const C2 = (0.03 * 100) ** 2;

/** Mean SSIM of L* over 8x8 windows every 4 pixels (a picture smaller than a window: one window). */
export function ssimLightness(a: LabImage, b: LabImage): number {
  sameSize(a, b);
  const wx = Math.min(WINDOW, a.width);
  const wy = Math.min(WINDOW, a.height);
  let total = 0;
  let windows = 0;
  for (let y0 = 0; y0 + wy <= a.height; y0 += STRIDE) {
    for (let x0 = 0; x0 + wx <= a.width; x0 += STRIDE) {
      let sa = 0,
        sb = 0,
        saa = 0,
        sbb = 0,
        sab = 0;
      for (let y = y0; y < y0 + wy; y++) {
        for (let x = x0; x < x0 + wx; x++) {
          const i = (y * a.width + x) * 3;
          const va = a.data[i]!;
          const vb = b.data[i]!;
          sa += va;
          sb += vb;
          saa += va * va;
          sbb += vb * vb;
          sab += va * vb;
        }
      }
      const n = wx * wy;
      const ma = sa / n,
        mb = sb / n;
      const va = saa / n - ma * ma,
        vb = sbb / n - mb * mb,
        cov = sab / n - ma * mb;
      total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      windows++;
    }
  }
  return windows === 0 ? 1 : total / windows;
}

/**
 * Mean CIEDE2000 of the two pictures' 8x8 block means, and each block's value (for the visual
 * diff). Blocks, not pixels: the eye sees colour at low spatial frequencies (the idea of
 * S-CIELAB), and per pixel a mere re-encode's noise reads as a colour difference.
 */
export function deltaE2000Map(a: LabImage, b: LabImage): { mean: number; map: Float32Array; width: number; height: number } {
  sameSize(a, b);
  const width = Math.ceil(a.width / WINDOW);
  const height = Math.ceil(a.height / WINDOW);
  const map = new Float32Array(width * height);
  let sum = 0;
  for (let by = 0; by < height; by++) {
    for (let bx = 0; bx < width; bx++) {
      const ma = [0, 0, 0];
      const mb = [0, 0, 0];
      let n = 0;
      for (let y = by * WINDOW; y < Math.min(a.height, (by + 1) * WINDOW); y++) {
        for (let x = bx * WINDOW; x < Math.min(a.width, (bx + 1) * WINDOW); x++) {
          const i = (y * a.width + x) * 3;
          for (let c = 0; c < 3; c++) {
            ma[c]! += a.data[i + c]!;
            mb[c]! += b.data[i + c]!;
          }
          n++;
        }
      }
      const d = deltaE2000(ma[0]! / n, ma[1]! / n, ma[2]! / n, mb[0]! / n, mb[1]! / n, mb[2]! / n);
      map[by * width + bx] = d;
      sum += d;
    }
  }
  return { mean: map.length === 0 ? 0 : sum / map.length, map, width, height };
}

const DEG = Math.PI / 180;
const POW25_7 = 25 ** 7;

/** CIEDE2000 (Sharma, Wu and Dalal's formulation), kL = kC = kH = 1. */
export function deltaE2000(l1: number, a1: number, b1: number, l2: number, a2: number, b2: number): number {
  const c1 = Math.hypot(a1, b1);
  const c2 = Math.hypot(a2, b2);
  const cMean7 = ((c1 + c2) / 2) ** 7;
  const g = 0.5 * (1 - Math.sqrt(cMean7 / (cMean7 + POW25_7)));
  const a1p = (1 + g) * a1;
  const a2p = (1 + g) * a2;
  const c1p = Math.hypot(a1p, b1);
  const c2p = Math.hypot(a2p, b2);
  const hue = (b: number, a: number) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / DEG + 360) % 360);
  const h1p = hue(b1, a1p);
  const h2p = hue(b2, a2p);
  const dL = l2 - l1;
  const dC = c2p - c1p;
  let dh = 0;
  if (c1p * c2p !== 0) {
    dh = h2p - h1p;
    if (dh > 180) dh -= 360;
    else if (dh < -180) dh += 360;
  }
  const dH = 2 * Math.sqrt(c1p * c2p) * Math.sin((dh / 2) * DEG);
  const lMean = (l1 + l2) / 2;
  const cMeanP = (c1p + c2p) / 2;
  let hMean = h1p + h2p;
  if (c1p * c2p !== 0) {
    if (Math.abs(h1p - h2p) <= 180) hMean /= 2;
    else hMean = h1p + h2p < 360 ? (hMean + 360) / 2 : (hMean - 360) / 2;
  }
  const t = 1 - 0.17 * Math.cos((hMean - 30) * DEG) + 0.24 * Math.cos(2 * hMean * DEG) + 0.32 * Math.cos((3 * hMean + 6) * DEG) - 0.2 * Math.cos((4 * hMean - 63) * DEG);
  const dTheta = 30 * Math.exp(-(((hMean - 275) / 25) ** 2));
  const cMeanP7 = cMeanP ** 7;
  const rC = 2 * Math.sqrt(cMeanP7 / (cMeanP7 + POW25_7));
  const sL = 1 + (0.015 * (lMean - 50) ** 2) / Math.sqrt(20 + (lMean - 50) ** 2);
  const sC = 1 + 0.045 * cMeanP;
  const sH = 1 + 0.015 * cMeanP * t;
  const rT = -Math.sin(2 * dTheta * DEG) * rC;
  const l = dL / sL;
  const c = dC / sC;
  const h = dH / sH;
  return Math.sqrt(l * l + c * c + h * h + rT * c * h);
}

function sameSize(a: LabImage, b: LabImage): void {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`cannot compare ${a.width}x${a.height} with ${b.width}x${b.height}`);
}
