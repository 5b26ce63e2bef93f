import type { CallError } from '../use-call.js';

/**
 * A failed call, said in place of what it would have shown: never a blank view. A command
 * this device's Canopy does not do yet (NOT_IMPLEMENTED) reads as "not available yet",
 * not as a failure.
 */
export function CallProblem({ error, what, onRetry }: { error: CallError; what: string; onRetry?: (() => void) | undefined }) {
  const notYet = error.code === 'NOT_IMPLEMENTED';
  return (
    <div className={`call-problem ${notYet ? 'not-yet' : 'failed'}`} role={notYet ? 'note' : 'alert'}>
      <p>
        <strong>{notYet ? `${what}: not available yet.` : `${what} failed.`}</strong>{' '}
        {notYet ? 'This device’s Canopy does not do this yet; it will once it is updated.' : error.message}{' '}
        <code className="error-code">{error.code}</code>
      </p>
      {onRetry && !notYet && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A call's outcome next to the button that made it: nothing, "Working…", or the problem. */
export function ActionStatus({ pending, error, what }: { pending: boolean; error: CallError | null; what: string }) {
  return (
    <span className="action-status" role="status" aria-live="polite">
      {pending ? 'Working…' : error ? <CallProblem error={error} what={what} /> : null}
    </span>
  );
}
