/**
 * Launch at login. macOS and Windows: Electron's app.setLoginItemSettings. Linux has no
 * such setting in Electron, so there the XDG autostart entry is written or removed:
 * `$XDG_CONFIG_HOME/autostart/canopy.desktop` (default ~/.config/autostart), which every
 * freedesktop session (GNOME, KDE, Xfce, ...) starts at login.
 */
import fs from 'node:fs';
import path from 'node:path';

export const AUTOSTART_FILE_NAME = 'canopy.desktop';

/** Quotes one Exec argument as the Desktop Entry spec wants (reserved characters in double quotes, with escapes). */
export function quoteExecArg(arg: string): string {
  if (arg !== '' && !/[\s"'\\`$<>|&;()*?#~=%]/.test(arg)) return arg;
  return `"${arg.replace(/[\\"`$]/g, (c) => `\\${c}`).replace(/%/g, '%%')}"`;
}

/** The .desktop file's text for starting `exec args...` at login, hidden (to the tray). */
export function autostartDesktopEntry(exec: string, args: readonly string[] = []): string {
  const cmd = [exec, ...args].map(quoteExecArg).join(' ');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    'Name=Canopy',
    'Comment=Keep your files alive across all of your own devices',
    `Exec=${cmd}`,
    'Icon=canopy-desktop',
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    'NoDisplay=false',
    '',
  ].join('\n');
}

/** The autostart folder: $XDG_CONFIG_HOME/autostart, else ~/.config/autostart (a relative XDG_CONFIG_HOME is ignored, as the spec says). */
export function autostartDir(env: NodeJS.ProcessEnv, home: string): string {
  const xdg = env['XDG_CONFIG_HOME'];
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.config'), 'autostart');
}

/** Writes (atomically) or removes the entry; returns whether it is now enabled. */
export function setLinuxAutostart(enabled: boolean, opts: { dir: string; exec: string; args?: readonly string[] }): boolean {
  const file = path.join(opts.dir, AUTOSTART_FILE_NAME);
  if (!enabled) {
    fs.rmSync(file, { force: true });
    return false;
  }
  fs.mkdirSync(opts.dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, autostartDesktopEntry(opts.exec, opts.args), { mode: 0o644 });
  fs.renameSync(tmp, file);
  return true;
}

export function linuxAutostartEnabled(dir: string): boolean {
  return fs.existsSync(path.join(dir, AUTOSTART_FILE_NAME));
}

/** The command that starts this app: the AppImage when run from one (its path moves with the file), else the executable. */
export function launchCommand(env: NodeJS.ProcessEnv, execPath: string, appPath: string | null): { exec: string; args: string[] } {
  if (env['APPIMAGE']) return { exec: env['APPIMAGE'], args: ['--hidden'] };
  // Run unpackaged (electron .): the Electron binary with the app's folder.
  return appPath ? { exec: execPath, args: [appPath, '--hidden'] } : { exec: execPath, args: ['--hidden'] };
}
