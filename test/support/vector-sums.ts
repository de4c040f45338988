/** The sums every distance metric is made of, over two vectors of one length: a·b, a·a, b·b and the squared L2 distance. */
export interface VectorSums {
  dot: number;
  aa: number;
  bb: number;
  l2: number;
}

/** One pass over `a` and `b`, in double precision (the engines' references each map these sums to their own metric). */
export function vectorSums(a: Float32Array, b: Float32Array): VectorSums {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  let l2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
    l2 += (a[i]! - b[i]!) ** 2;
  }
  return { dot, aa, bb, l2 };
}
