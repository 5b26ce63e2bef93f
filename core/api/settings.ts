/**
 * The edit commands of devices, folders and settings (issue 6): `device.update`,
 * `folder.update`, `settings.get` and `settings.set`. Device and folder changes travel as
 * signed log entries (core/mesh, core/folders); settings are this device's config.toml
 * [replication], [jobs] and [placement] keep_recent, validated by config.toml's own schema and written atomically.
 */
import type { Engine } from '../engine/index.js';
import { writeConfig, type ConfigPatch } from '../config/index.js';
import type { SyncService } from '../sync/index.js';
import type { Folder } from '../folders/index.js';
import type { DeviceInfo, FolderInfo, Params, SettingsInfo } from './types.js';

/** Settings the engine reads once at start (the others are read where they are used). */
const RESTART_NEEDED = ['jobs.gc_interval'] as const;

export interface SettingsApiDeps {
  engine: Engine;
  sync: SyncService | undefined;
  devices: () => DeviceInfo[];
  folderInfo: (f: Folder) => FolderInfo;
}

export class SettingsApi {
  constructor(private readonly deps: SettingsApiDeps) {}

  deviceUpdate(p: Params<'device.update'>): DeviceInfo {
    const { engine, sync } = this.deps;
    const d = engine.mesh.update(p.id, { name: p.name, labels: p.labels, trust: p.trust });
    if (d.isLocal) engine.adoptLocalDeviceRow();
    sync?.pushEntries();
    // Trust decides eligibility: placement and the majority are recomputed from the rows.
    if (p.trust !== undefined) engine.confirmations.recompute();
    return this.deps.devices().find((x) => x.id === d.id) as DeviceInfo;
  }

  folderUpdate(p: Params<'folder.update'>): FolderInfo {
    const { engine, sync } = this.deps;
    const before = engine.folders.require(p.id);
    const after = engine.folders.update(p.id, { label: p.label, dataClass: p.dataClass, priority: p.priority, mode: p.mode });
    sync?.pushEntries();
    // To full: the sync writes every file that was online-only. To on-demand: files stay until freed.
    if (before.local?.mode === 'on-demand' && after.local?.mode === 'full') sync?.folderAttached(after.id);
    return this.deps.folderInfo(after);
  }

  settingsGet(): SettingsInfo {
    const { replication, jobs, placement } = this.deps.engine.config;
    return {
      replication: { ...replication, diversity: replication.diversity.map((r) => ({ ...r })) }, jobs: { ...jobs }, restartNeeded: [],
      placement: { keepRecent: placement.keepRecent },
    };
  }

  settingsSet(p: Params<'settings.set'>): SettingsInfo {
    const { engine } = this.deps;
    const patch = { replication: p.replication, jobs: p.jobs, placement: p.placement } as ConfigPatch;
    const written = writeConfig(engine.home, patch);
    // In place: jobs, the scheduler and placement hold these very objects.
    Object.assign(engine.config.replication, written.replication);
    Object.assign(engine.config.jobs, written.jobs);
    engine.config.placement.keepRecent = written.placement.keepRecent;
    const touched = Object.keys(p.jobs ?? {}).map((k) => `jobs.${k}`);
    return { ...this.settingsGet(), restartNeeded: RESTART_NEEDED.filter((k) => touched.includes(k)) };
  }
}
