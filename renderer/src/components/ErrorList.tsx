import { useCanopy } from '../store-context.js';
import type { UiError } from '../store.js';

/** Errors from calls and events, newest last, each dismissible. Announced as they appear. */
export function ErrorList({ exclude }: { exclude?: (e: UiError) => boolean }) {
  const errors = useCanopy((s) => s.errors);
  const dismiss = useCanopy((s) => s.dismissError);
  const shown = exclude ? errors.filter((e) => !exclude(e)) : errors;
  return (
    <div className="errors" role="alert" aria-live="assertive">
      {shown.length > 0 && (
        <ul aria-label="Errors">
          {shown.map((e) => (
            <li key={e.id} className="error">
              <div className="error-text">
                <strong>{e.action} failed.</strong> <span>{e.message}</span> <code className="error-code">{e.code}</code>
              </div>
              <button type="button" className="ghost" onClick={() => dismiss(e.id)} aria-label={`Dismiss error: ${e.action} failed`}>
                Dismiss
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
