/**
 * `canopy cat`, `canopy restore`, `canopy resolve` and `canopy gc`: reading any version,
 * making an old version the head again, settling conflicts, and collecting old history.
 * Thin calls into the API (`file.cat`, `file.restore`, `conflict.resolve`, `gc`).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Option, type Command } from 'commander';
import { CanopyError } from '../errors/index.js';
import { formatSize } from '../config/index.js';
import type { CanopyClient, GcReport, ReadMode, ResolveResult } from '../api/types.js';
import { withClient } from './client.js';

export interface CliHelpers {
  homeOf: (cmd: Command) => string;
  target: (value: string) => string;
}

/** Piece size when streaming a file through the API (base64 in JSON, well under any frame limit). */
const CAT_PIECE_BYTES = 8 * 1024 * 1024;

const out = (s: string) => process.stdout.write(`${s}\n`);
const json = (v: unknown) => out(JSON.stringify(v, null, 2));

export function registerVersionCommands(program: Command, h: CliHelpers): void {
  program.command('cat <target>')
    .description('write one version of a file to stdout or a file (default: the preferred head)')
    .addOption(new Option('--mode <mode>', 'which head to read').choices(['preferred', 'confirmed_only', 'provisional_allowed']))
    .option('--version <id>', 'an exact version (or an unambiguous prefix, as `canopy log` prints)')
    .option('--output <file>', 'write here (atomically) instead of stdout')
    .action(async (t: string, o: { mode?: ReadMode; version?: string; output?: string }, cmd: Command) => {
      await withClient(h.homeOf(cmd), (c) => cat(c, h.target(t), o));
    });

  program.command('restore <target>')
    .description('make an old version the new head (a new version on top of the current head, so it can be undone)')
    .requiredOption('--version <id>', 'the version to bring back (see `canopy log`)')
    .option('--json', 'print JSON')
    .action(async (t: string, o: { version: string; json?: boolean }, cmd: Command) => {
      const v = await withClient(h.homeOf(cmd), (c) => c.call('file.restore', { target: h.target(t), version: o.version }));
      if (o.json) json(v);
      else out(`Restored ${v.path} as version ${v.id.slice(0, 12)} (from ${o.version.slice(0, 12)}, on top of ${v.parents.map((p) => p.slice(0, 12)).join(', ') || 'nothing'}).`);
    });

  program.command('resolve <target>')
    .description('settle a conflict with a merge version whose parents are all the heads')
    .option('--take <id>', 'keep this head\'s content (or any version of the path)')
    .option('--keep-both', 'keep the preferred head here and give each other head its own "(conflict from DEVICE DATE)" path')
    .option('--content <file>', 'use this file\'s bytes as the merged content')
    .option('--json', 'print JSON')
    .action(async (t: string, o: { take?: string; keepBoth?: boolean; content?: string; json?: boolean }, cmd: Command) => {
      const given = [o.take, o.keepBoth, o.content].filter((x) => x !== undefined && x !== false).length;
      if (given !== 1) throw new CanopyError('BAD_ARGUMENT', 'give exactly one of --take ID, --keep-both, --content FILE');
      const contentBase64 = o.content !== undefined ? (await readContent(o.content)).toString('base64') : undefined;
      const r = await withClient(h.homeOf(cmd), (c) => c.call('conflict.resolve', {
        target: h.target(t), take: o.take, keepBoth: o.keepBoth ? true : undefined, contentBase64,
      }));
      if (o.json) json(r);
      else out(resolved(r));
    });

  program.command('gc')
    .description('drop history past retention (tombstones, old versions) and chunks no kept version needs')
    .option('--dry-run', 'only count what would go')
    .option('--json', 'print JSON')
    .action(async (o: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
      const r = await withClient(h.homeOf(cmd), (c) => c.call('gc', { dryRun: o.dryRun === true }));
      if (o.json) json(r);
      else out(gcSummary(r));
    });
}

/** Streams a version in pieces pinned to the version the first piece picked. */
async function cat(c: CanopyClient, target: string, o: { mode?: ReadMode; version?: string; output?: string }): Promise<void> {
  const first = await c.call('file.cat', { target, mode: o.mode, version: o.version, encoding: 'base64', maxBytes: CAT_PIECE_BYTES });
  if (first.kind === 'tombstone') throw new CanopyError('NOT_FOUND', `${first.folderId}/${first.path} is deleted in version ${first.versionId.slice(0, 12)}; read an older version with --version (see \`canopy log\`)`);
  if (first.kind === 'dir') throw new CanopyError('BAD_ARGUMENT', `${first.folderId}/${first.path} is a directory`);
  const sink = o.output ? await fileSink(o.output) : stdoutSink();
  try {
    let piece = first;
    let offset = 0;
    for (;;) {
      const data = Buffer.from(piece.data, 'base64');
      await sink.write(data);
      offset += data.length;
      if (!piece.truncated || data.length === 0) break;
      piece = await c.call('file.cat', { target, version: first.versionId, encoding: 'base64', offset, maxBytes: CAT_PIECE_BYTES });
    }
    await sink.done();
  } catch (err) {
    await sink.abort();
    // The reader went away (`canopy cat ... | head`): not an error.
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') return;
    throw err;
  }
}

interface Sink {
  write(data: Buffer): Promise<void>;
  done(): Promise<void>;
  abort(): Promise<void>;
}

function stdoutSink(): Sink {
  // A closed pipe is reported through the write callback; without a listener the stream's
  // 'error' event would also crash the process.
  process.stdout.on('error', () => undefined);
  return {
    write: (data) => new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve()))),
    done: async () => undefined,
    abort: async () => undefined,
  };
}

/** The file appears whole or not at all: a temp file beside it, fsync, rename. */
async function fileSink(file: string): Promise<Sink> {
  const final = path.resolve(file);
  const tmp = path.join(path.dirname(final), `.${path.basename(final)}.canopy-${randomBytes(4).toString('hex')}`);
  const fh = await fsp.open(tmp, 'wx', 0o644).catch((err: unknown) => {
    throw new CanopyError('IO_ERROR', `cannot write ${final}: ${err instanceof Error ? err.message : String(err)}`);
  });
  return {
    write: async (data) => {
      await fh.write(data);
    },
    done: async () => {
      await fh.sync();
      await fh.close();
      await fsp.rename(tmp, final);
    },
    abort: async () => {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
    },
  };
}

async function readContent(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (err) {
    throw new CanopyError('NOT_FOUND', `cannot read --content ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function resolved(r: ResolveResult): string {
  const lines = [`Resolved ${r.folderId}/${r.path}: merge version ${r.version.id.slice(0, 12)} (${r.version.kind === 'tombstone' ? 'deleted' : formatSize(r.version.size)}) with parents ${r.version.parents.map((p) => p.slice(0, 12)).join(', ')}.`];
  for (const p of r.created) lines.push(`  kept the other branch as ${r.folderId}/${p}`);
  for (const p of r.pending ?? []) lines.push(`  ${r.folderId}/${p}: its content is on other devices; it appears here once the daemon syncs`);
  return lines.join('\n');
}

function gcSummary(r: GcReport): string {
  return `${r.dryRun ? 'Would remove' : 'Removed'} ${r.tombstonesRemoved} tombstone(s), ${r.versionsRemoved} old version(s), ${r.chunksRemoved} chunk(s) (${formatSize(r.bytesFreed)})${r.emergency ? ' [emergency mode: disk nearly full]' : ''} in ${r.seconds.toFixed(2)} s.`;
}
