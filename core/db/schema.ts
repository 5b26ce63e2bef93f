/**
 * The numbered migrations of the metadata database. Never edit a released migration:
 * add the next one. `user_version` records how many have run.
 *
 * Why these tables (see DESIGN.md sections 1, 2 and 5):
 * - versions + version_parents form the DAG of every path; heads are its leaves.
 * - change_log is each origin's signed, append-only log: what peers exchange.
 * - local_files is the scanner's fast path (size, mtime, inode of what was last indexed)
 *   and says which version the working copy holds.
 * - version_chunks maps each version to its ordered chunks, with offsets, so a working-copy
 *   file can serve its own chunks without a second copy in the store.
 * - stored_chunks is what the content-addressed store holds (the quota counts these).
 */
export const MIGRATIONS: readonly string[] = [
  /* 1: the local engine */ `
  CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    public_key  BLOB NOT NULL,
    name        TEXT NOT NULL,
    labels      TEXT NOT NULL DEFAULT '{}',
    trust       TEXT NOT NULL DEFAULT 'owner' CHECK (trust IN ('owner', 'storage-only')),
    is_local    INTEGER NOT NULL DEFAULT 0,
    capacity    TEXT,
    last_seen   INTEGER,
    added_at    INTEGER NOT NULL,
    revoked_at  INTEGER
  );

  CREATE TABLE folders (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    data_class  TEXT NOT NULL CHECK (data_class IN ('critical', 'sensitive', 'standard', 'public')),
    priority    TEXT NOT NULL CHECK (priority IN ('critical', 'high', 'normal', 'low', 'expendable')),
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    removed_at  INTEGER
  );

  CREATE TABLE local_folders (
    folder_id     TEXT PRIMARY KEY REFERENCES folders(id),
    path          TEXT NOT NULL UNIQUE,
    mode          TEXT NOT NULL CHECK (mode IN ('full', 'on-demand')),
    attached_at   INTEGER NOT NULL,
    last_scan_at  INTEGER
  );

  CREATE TABLE versions (
    id          TEXT PRIMARY KEY,
    folder_id   TEXT NOT NULL,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink', 'tombstone')),
    size        INTEGER NOT NULL,
    mtime_ms    REAL NOT NULL,
    mode        INTEGER NOT NULL,
    target      TEXT,
    vector      TEXT NOT NULL,
    author      TEXT NOT NULL,
    origin_seq  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'provisional' CHECK (state IN ('provisional', 'confirmed'))
  );
  CREATE INDEX versions_by_path ON versions(folder_id, path);

  CREATE TABLE version_parents (
    version_id  TEXT NOT NULL,
    parent_id   TEXT NOT NULL,
    PRIMARY KEY (version_id, parent_id)
  ) WITHOUT ROWID;

  CREATE TABLE version_chunks (
    version_id  TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    chunk       TEXT NOT NULL,
    offset      INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (version_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX version_chunks_by_chunk ON version_chunks(chunk);

  CREATE TABLE heads (
    folder_id   TEXT NOT NULL,
    path        TEXT NOT NULL,
    version_id  TEXT NOT NULL,
    PRIMARY KEY (folder_id, path, version_id)
  ) WITHOUT ROWID;

  CREATE TABLE change_log (
    origin       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    body         BLOB NOT NULL,
    signature    BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (origin, seq)
  ) WITHOUT ROWID;

  CREATE TABLE local_files (
    folder_id   TEXT NOT NULL,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ms    REAL NOT NULL,
    ino         INTEGER NOT NULL,
    mode        INTEGER NOT NULL,
    version_id  TEXT NOT NULL,
    PRIMARY KEY (folder_id, path)
  ) WITHOUT ROWID;

  CREATE TABLE scan_problems (
    folder_id   TEXT NOT NULL,
    path        TEXT NOT NULL,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (folder_id, path)
  ) WITHOUT ROWID;

  CREATE TABLE stored_chunks (
    hash         TEXT PRIMARY KEY,
    size         INTEGER NOT NULL,
    stored_at    INTEGER NOT NULL,
    last_access  INTEGER NOT NULL,
    quarantined  INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE replicas (
    chunk        TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    verified_at  INTEGER NOT NULL,
    PRIMARY KEY (chunk, device_id)
  ) WITHOUT ROWID;

  CREATE TABLE pins (
    folder_id   TEXT NOT NULL,
    path        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (folder_id, path)
  ) WITHOUT ROWID;

  CREATE TABLE path_priorities (
    folder_id   TEXT NOT NULL,
    path        TEXT NOT NULL,
    priority    TEXT NOT NULL,
    PRIMARY KEY (folder_id, path)
  ) WITHOUT ROWID;

  CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  );

  CREATE TABLE job_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job          TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    status       TEXT NOT NULL,
    report       TEXT
  );
  `,
  /* 2: the mesh: membership, invites, entries waiting for their origin, sync problems */ `
  CREATE TABLE mesh (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    mesh_key    BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
  );

  CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    used_by      TEXT
  );

  -- Signed entries whose origin is not known yet (its "device add" has not arrived).
  CREATE TABLE pending_entries (
    origin       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    body         BLOB NOT NULL,
    signature    BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (origin, seq)
  ) WITHOUT ROWID;

  -- Remote changes this device could not apply (a hostile path, a name the local
  -- filesystem cannot hold): each with its reason, the rest syncs.
  CREATE TABLE sync_problems (
    folder_id   TEXT NOT NULL,
    path        TEXT NOT NULL,
    origin      TEXT,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (folder_id, path)
  ) WITHOUT ROWID;
  `,
  /* 3: finding a version's children (is it still a head?) without scanning its path's history */ `
  CREATE INDEX version_parents_by_parent ON version_parents(parent_id);
  `,
  /* 4: confirmed state: each device's latest signed acknowledgement (which entries of each origin it holds) */ `
  CREATE TABLE device_acks (
    device_id  TEXT NOT NULL,
    origin     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (device_id, origin)
  ) WITHOUT ROWID;
  -- Confirming an origin's versions up to a seq is one range per (author, state).
  CREATE INDEX versions_by_author_state ON versions(author, state, origin_seq);
  `,
  /* 5: placement: files of on-demand folders this device materializes because they were used
        (opened), and finding a device's replicas (announcements replace a device's rows) */ `
  CREATE TABLE recent_files (
    folder_id  TEXT NOT NULL,
    path       TEXT NOT NULL,
    used_at    INTEGER NOT NULL,
    PRIMARY KEY (folder_id, path)
  ) WITHOUT ROWID;
  CREATE INDEX replicas_by_device ON replicas(device_id, verified_at);
  `,
  /* 6: priority overrides travel in the signed log (placement must agree on every device):
        last writer wins by (set_at, set_by); 'inherit' marks a cleared override */ `
  ALTER TABLE path_priorities ADD COLUMN set_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE path_priorities ADD COLUMN set_by TEXT NOT NULL DEFAULT '';
  `,
  /* 7: device renames, labels and trust travel as signed 'update' entries: last writer wins by
        (updated_at, updated_by) so every device ends with the same row whatever the order */ `
  ALTER TABLE devices ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE devices ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
  -- The same for a folder's label, data class and default priority ('folder' 'update' entries).
  ALTER TABLE folders ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE folders ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
  `,
];
