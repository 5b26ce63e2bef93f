export type View = 'overview' | 'folders';

const VIEWS: readonly { id: View; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'folders', label: 'Folders' },
];

/** The view switcher: plain buttons, the current one marked for screen readers. */
export function Nav({ view, onChange }: { view: View; onChange: (v: View) => void }) {
  return (
    <nav aria-label="Views">
      <ul className="nav">
        {VIEWS.map((v) => (
          <li key={v.id}>
            <button type="button" className="nav-button" aria-current={view === v.id ? 'page' : undefined} onClick={() => onChange(v.id)}>
              {v.label}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
