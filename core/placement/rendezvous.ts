/**
 * Weighted rendezvous placement, as pure functions: which devices should hold a chunk.
 *
 * Every device scores every eligible device for a chunk with score = -w / ln(u), u drawn
 * from hash(chunk, device) in (0, 1); the highest scores win. That is the "logarithmic
 * method": each device wins a share of chunks proportional to its weight, and adding a
 * device only takes chunks away from others (about 1/n of them), nothing else moves.
 *
 * u must be cheap (a million chunks over twenty devices is twenty million draws), so it is
 * not a cryptographic hash of both names: the chunk's name already is a BLAKE3 hash, so its
 * first 64 bits are uniform; each device gets a 64-bit seed from its id once, and u mixes
 * the two with murmur3's finalizer (a bijection that spreads every input bit).
 */
import { createHash } from 'node:crypto';

export interface DiversityRule {
  /** Label name whose values the copies should span, e.g. "site". */
  label: string;
  minDistinct: number;
}

export interface Candidate {
  id: string;
  /** Relative share of chunks this device should win (free capacity); <= 0 never wins. */
  weight: number;
  labels: Readonly<Record<string, string>>;
}

/** Candidates prepared once for many chunks (seeds computed, weights checked). */
export interface PreparedCandidates {
  readonly list: readonly Candidate[];
  readonly seedHi: Uint32Array;
  readonly seedLo: Uint32Array;
  readonly weights: Float64Array;
  readonly index: ReadonlyMap<string, number>;
}

export interface PlaceRequest {
  hash: string;
  factor: number;
  /** Placed first when `ownerFirst` and the owner is a candidate (priorities high and critical). */
  owner?: string | null | undefined;
  ownerFirst?: boolean | undefined;
  diversity?: readonly DiversityRule[] | undefined;
}

export interface PlaceResult {
  designated: string[];
  /** Copies that could not be placed: fewer eligible devices than the factor. */
  shortfall: number;
}

export function prepareCandidates(candidates: readonly Candidate[]): PreparedCandidates {
  const list = candidates.filter((c) => Number.isFinite(c.weight) && c.weight > 0);
  const seedHi = new Uint32Array(list.length);
  const seedLo = new Uint32Array(list.length);
  const weights = new Float64Array(list.length);
  list.forEach((c, i) => {
    const d = createHash('sha256').update('canopy-placement-seed').update(c.id).digest();
    seedHi[i] = d.readUInt32BE(0);
    seedLo[i] = d.readUInt32BE(4);
    weights[i] = c.weight;
  });
  return { list, seedHi, seedLo, weights, index: new Map(list.map((c, i) => [c.id, i])) };
}

/** murmur3's 32-bit finalizer: a bijection in which every input bit affects every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const HEX16 = /^[0-9a-f]{16}/;
/** Scratch space for the top scores (placement is synchronous, so one set is enough). */
let scratchIdx = new Int32Array(16);
let scratchScores = new Float64Array(16);

/** The chunk's first 64 bits (it is a hex BLAKE3 hash; other names are hashed first). */
export function chunkKey(hash: string): [number, number] {
  if (HEX16.test(hash)) return [parseInt(hash.slice(0, 8), 16) >>> 0, parseInt(hash.slice(8, 16), 16) >>> 0];
  const d = createHash('sha256').update(hash).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

/** u in (0, 1) for (chunk, device i): 53 bits from two mixed words, never 0 or 1. */
function draw(hi: number, lo: number, p: PreparedCandidates, i: number): number {
  const a = fmix32((hi ^ (p.seedHi[i] as number)) >>> 0);
  const b = fmix32((lo ^ (p.seedLo[i] as number) ^ Math.imul(a, 0x9e3779b1)) >>> 0);
  return (a * 2097152 + (b >>> 11) + 0.5) / 9007199254740992;
}

/** Every candidate's score for this chunk (higher wins). */
export function scores(hash: string, p: PreparedCandidates): Float64Array {
  const [hi, lo] = chunkKey(hash);
  const out = new Float64Array(p.list.length);
  for (let i = 0; i < out.length; i++) out[i] = -(p.weights[i] as number) / Math.log(draw(hi, lo, p, i));
  return out;
}

/**
 * The devices that should hold this chunk, best first: the owner first when asked, then by
 * score, walked so that the diversity rules hold whenever the candidates allow it.
 */
export function place(req: PlaceRequest, p: PreparedCandidates): PlaceResult {
  const factor = Math.max(0, Math.floor(req.factor));
  const ownerIdx = req.ownerFirst && req.owner ? p.index.get(req.owner) : undefined;
  const chosen: number[] = [];
  if (ownerIdx !== undefined && factor > 0) chosen.push(ownerIdx);
  const rules = req.diversity ?? [];
  // The common case, kept cheap: only the top factor(+1) scores are looked at; with rules,
  // the full walk runs only when those top scores do not already satisfy them.
  const k = Math.min(p.list.length, factor + 1);
  if (scratchIdx.length < k) {
    scratchIdx = new Int32Array(k);
    scratchScores = new Float64Array(k);
  }
  const len = topK(req.hash, k, p, scratchIdx, scratchScores);
  for (let j = 0; j < len && chosen.length < factor; j++) if (scratchIdx[j] !== ownerIdx) chosen.push(scratchIdx[j] as number);
  if (rules.length > 0 && !diversityMet(chosen, factor, rules, p)) {
    chosen.length = ownerIdx !== undefined && factor > 0 ? 1 : 0;
    const s = scores(req.hash, p);
    const order = Array.from({ length: p.list.length }, (_, i) => i).sort((a, b) => (s[b] as number) - (s[a] as number) || a - b);
    walkWithDiversity(chosen, order.filter((i) => i !== ownerIdx), factor, rules, p);
  }
  const designated = chosen.map((i) => (p.list[i] as Candidate).id);
  return { designated, shortfall: Math.max(0, factor - designated.length) };
}

/**
 * Greedy walk in score order: a candidate is taken when, after taking it, the slots left
 * can still cover the distinct label values still missing; the skipped ones fill what
 * remains. With one rule this reaches min(minDistinct, distinct values available, factor).
 */
function walkWithDiversity(chosen: number[], order: readonly number[], factor: number, rules: readonly DiversityRule[], p: PreparedCandidates): void {
  const labelOf = (i: number, label: string) => (p.list[i] as Candidate).labels[label];
  const targets = rules.map((r) => Math.min(r.minDistinct, factor, distinctValues([...chosen, ...order], r.label, labelOf).size));
  // The label values the chosen devices span, per rule, kept up to date as devices are taken.
  const spanned = rules.map((r) => distinctValues(chosen, r.label, labelOf));
  const deficitWith = (i: number) => rules.reduce((sum, r, k) => {
    const v = labelOf(i, r.label);
    const span = (spanned[k] as Set<string>).size + (v !== undefined && !(spanned[k] as Set<string>).has(v) ? 1 : 0);
    return sum + Math.max(0, (targets[k] as number) - span);
  }, 0);
  const take = (i: number) => {
    chosen.push(i);
    rules.forEach((r, k) => {
      const v = labelOf(i, r.label);
      if (v !== undefined) (spanned[k] as Set<string>).add(v);
    });
  };
  const skipped: number[] = [];
  for (const i of order) {
    if (chosen.length >= factor) break;
    if (factor - (chosen.length + 1) >= deficitWith(i)) take(i);
    else skipped.push(i);
  }
  for (const i of skipped) {
    if (chosen.length >= factor) break;
    take(i);
  }
}

/** Whether `set` spans, for every rule, min(minDistinct, factor) distinct values (enough whatever else is available). */
function diversityMet(set: readonly number[], factor: number, rules: readonly DiversityRule[], p: PreparedCandidates): boolean {
  return rules.every((r) => distinctValues(set, r.label, (i, l) => (p.list[i] as Candidate).labels[l]).size >= Math.min(r.minDistinct, factor));
}

function distinctValues(set: readonly number[], label: string, labelOf: (i: number, label: string) => string | undefined): Set<string> {
  const out = new Set<string>();
  for (const i of set) {
    const v = labelOf(i, label);
    if (v !== undefined) out.add(v);
  }
  return out;
}

/** Fast path for many chunks without diversity rules: the top `k` candidate indexes by score. */
export function topK(hash: string, k: number, p: PreparedCandidates, out: Int32Array, outScores: Float64Array): number {
  const [hi, lo] = chunkKey(hash);
  let len = 0;
  for (let i = 0; i < p.list.length; i++) {
    const sc = -(p.weights[i] as number) / Math.log(draw(hi, lo, p, i));
    if (len < k) len++;
    else if (sc <= (outScores[len - 1] as number)) continue;
    let j = len - 1;
    while (j > 0 && (outScores[j - 1] as number) < sc) {
      outScores[j] = outScores[j - 1] as number;
      out[j] = out[j - 1] as number;
      j--;
    }
    outScores[j] = sc;
    out[j] = i;
  }
  return len;
}
