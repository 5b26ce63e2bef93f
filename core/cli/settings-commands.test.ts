import { describe, expect, it } from 'vitest';
import { settingsPatch } from './settings-commands.js';

describe('settingsPatch: `canopy settings set` assignments as a config.toml patch', () => {
  it('keeps numbers as numbers, durations as text, and reads diversity rules', () => {
    expect(settingsPatch(['replication.normal=3', 'jobs.audit_interval=30m', 'jobs.retained_overhead=0.25', 'replication.diversity=site:2,power:1'])).toEqual({
      replication: { normal: 3, diversity: [{ label: 'site', min_distinct: 2 }, { label: 'power', min_distinct: 1 }] },
      jobs: { audit_interval: '30m', retained_overhead: 0.25 },
    });
    expect(settingsPatch(['replication.diversity='])).toEqual({ replication: { diversity: [] } });
    expect(settingsPatch(['placement.keep_recent=7d', 'jobs.cleanup_interval=1h'])).toEqual({ placement: { keep_recent: '7d' }, jobs: { cleanup_interval: '1h' } });
    expect(settingsPatch(['placement.keep_recent=0'])).toEqual({ placement: { keep_recent: 0 } });
  });

  it('refuses other sections and malformed rules with a clear error', () => {
    expect(() => settingsPatch(['storage.max=1'])).toThrow(/replication\.KEY=VALUE, jobs\.KEY=VALUE or placement\.keep_recent=VALUE/);
    // Only keep_recent of [placement] is a setting of this command (the weights are config.toml's).
    expect(() => settingsPatch(['placement.capacity_weight=2'])).toThrow(/placement\.keep_recent=VALUE/);
    expect(() => settingsPatch(['replication.normal'])).toThrow(/replication\.KEY=VALUE/);
    expect(() => settingsPatch(['replication.diversity=site'])).toThrow(/label:count/);
  });
});
