/**
 * Placement: which devices should hold each chunk (deterministic weighted rendezvous over
 * the eligible live devices, label diversity, the owner first for high and critical),
 * which devices do hold it (replica facts), priorities and pins of paths, and the eviction
 * choice, and which files an on-demand folder keeps here (pinned, recently used) and freeing
 * the others. Pure functions where it can be; `createPlacementView` reads one device's metadata.
 *
 * The seam with the jobs (audit, repair, scrub, cleanup): they consume `PlacementView`,
 * `SyncService.fetchChunks` and `SyncService.announceDropped`, nothing deeper.
 */
export type { Priority } from '../folders/index.js';
export { createPlacementView, localFacts, localHoldings, type ChunkPlacement, type PlacementView, type PlacementViewOptions, type PlacementDevice } from './view.js';
export { place, prepareCandidates, scores, topK, type Candidate, type DiversityRule, type PlaceRequest, type PlaceResult, type PreparedCandidates } from './rendezvous.js';
export { freeForOthers, freeForOwn, parseFacts, trustAllows, weightOf, UNKNOWN_FREE_BYTES, type CapacityFacts } from './facts.js';
export { coversPath, mostSpecific, PriorityRules, PRIORITY_RANK } from './priorities.js';
export { chooseExpired, OnDemand, type ExpiryChoice, type HeldFile, type HeldRow, type StayReason } from './on-demand.js';
export { fileHead, freeOnDemandFile, type FreeDeps, type FreeRefusal } from './free.js';
export { chooseEvictions, evictable, evictionOrder, type EvictCandidate, type EvictChoice } from './evict.js';
export { Quota, pinnedChunks, type QuotaLimits, type StoreBreakdown, type EvictPlan, type QuotaEvents } from './quota.js';
