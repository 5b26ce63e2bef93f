export type View = 'overview' | 'folders' | 'files' | 'devices' | 'conflicts' | 'activity';

export const VIEWS: readonly { id: View; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'folders', label: 'Folders' },
  { id: 'files', label: 'Files' },
  { id: 'devices', label: 'Devices' },
  { id: 'conflicts', label: 'Conflicts' },
  { id: 'activity', label: 'Activity' },
];

/** The view switcher: plain buttons, the current one marked for screen readers. */
export function Nav({ view, onChange, badges = {} }: { view: View; onChange: (v: View) => void; badges?: Partial<Record<View, number>> }) {
  return (
    <nav aria-label="Views">
      <ul className="nav">
        {VIEWS.map((v) => {
          const n = badges[v.id] ?? 0;
          return (
            <li key={v.id}>
              <button type="button" className="nav-button" aria-current={view === v.id ? 'page' : undefined} onClick={() => onChange(v.id)}>
                {v.label}
                {n > 0 && (
                  <span className="nav-badge">
                    {n}
                    <span className="visually-hidden"> to merge</span>
                  </span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
