/**
 * How long a change to this device's holding waits before it is announced: half a second to
 * gather a pass's chunks, longer when reading the holding is itself slow (millions of chunks).
 */
import { describe, expect, it } from 'vitest';
import { announceDelay } from './replica-facts.js';

describe('announceDelay', () => {
  it('waits half a second while the holding is cheap to read', () => {
    expect(announceDelay(0)).toBe(500);
    expect(announceDelay(20)).toBe(500);
  });
  it('waits twenty times the last read when that is longer, so re-reading stays a small share of the time', () => {
    expect(announceDelay(100)).toBe(2000);
    expect(announceDelay(2500.2)).toBe(50_004);
  });
});
