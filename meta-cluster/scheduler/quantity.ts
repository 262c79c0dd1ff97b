/**
 * Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): `100m`, `1.5`, `128Mi`,
 * `1G`, `1e3`, `500k`. Values are computed exactly (BigInt) and rounded up the way Quantity's
 * `Value()` and `MilliValue()` do, so `1.1` cpu is 1100 millicores, never 1101.
 *
 * client-node's `quantityToScalar` is not used: it rejects fractions with a suffix (`1.5Gi`).
 */

export class QuantityError extends Error {
  readonly code = 'InvalidQuantity';
  constructor(readonly quantity: string) {
    super(`quantity "${quantity}" is not valid: expected a number with an optional suffix (100m, 1.5, 128Mi, 1G, 1e3)`);
    this.name = 'QuantityError';
  }
}

/** Each suffix as a power of ten and a power of two. */
const SUFFIXES: Readonly<Record<string, readonly [number, number]>> = {
  n: [-9, 0],
  u: [-6, 0],
  m: [-3, 0],
  '': [0, 0],
  k: [3, 0],
  M: [6, 0],
  G: [9, 0],
  T: [12, 0],
  P: [15, 0],
  E: [18, 0],
  Ki: [0, 10],
  Mi: [0, 20],
  Gi: [0, 30],
  Ti: [0, 40],
  Pi: [0, 50],
  Ei: [0, 60],
};

const GRAMMAR = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE])?$/;

/** Beyond this many decimal digits the value is past any int64 the apiserver would keep. */
const MAX_EXP10 = 40;

/** ⌈quantity × 10^scale⌉ as a number (Infinity when absurdly large). */
function scaled(q: string, scale: number): number {
  const m = GRAMMAR.exec(q);
  if (!m) throw new QuantityError(q);
  const [, sign, num, suffix = ''] = m;
  const [intPart, fracPart = ''] = num!.split('.');
  let exp10: number;
  let exp2 = 0;
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E')) {
    exp10 = Number(suffix.slice(1));
  } else {
    [exp10, exp2] = SUFFIXES[suffix]!;
  }
  exp10 += scale - fracPart.length;
  let mantissa = BigInt((intPart || '0') + fracPart) << BigInt(exp2);
  if (mantissa === 0n) return 0;
  const negative = sign === '-';
  if (exp10 > MAX_EXP10) return negative ? -Infinity : Infinity;
  if (exp10 >= 0) {
    mantissa *= 10n ** BigInt(exp10);
    return Number(negative ? -mantissa : mantissa);
  }
  if (exp10 < -MAX_EXP10) return negative ? 0 : 1;
  const divisor = 10n ** BigInt(-exp10);
  const whole = mantissa / divisor;
  // Round towards +infinity: positive remainders go up, negative ones are cut off.
  const up = !negative && mantissa % divisor !== 0n ? 1n : 0n;
  return Number(negative ? -whole : whole + up);
}

// Pods repeat the same few strings thousands of times; parsing each once keeps scheduling cheap.
const memo = new Map<string, number>();
const MEMO_LIMIT = 10_000;

function cached(q: string, scale: number): number {
  const key = scale === 0 ? q : `${q}\u0000${scale}`;
  let v = memo.get(key);
  if (v === undefined) {
    v = scaled(q, scale);
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, v);
  }
  return v;
}

/** The quantity as an integer, rounded up (Quantity.Value): bytes, pods, devices. */
export function quantityValue(q: string | number): number {
  return typeof q === 'number' ? Math.ceil(q) : cached(q, 0);
}

/** The quantity in thousandths, rounded up (Quantity.MilliValue): millicores. */
export function quantityMilli(q: string | number): number {
  return typeof q === 'number' ? Math.ceil(q * 1000) : cached(q, 3);
}

/** True when the string is a well-formed quantity. */
export function isQuantity(q: string): boolean {
  return GRAMMAR.test(q);
}
