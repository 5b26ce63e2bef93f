import type { Usage } from '../format.js';

/**
 * The chunk store's use of its quota, as a native <meter> (announced as a value in a
 * range). Its colour bands match storeUsage's levels: warning from 90%, danger when full.
 */
export function UsageMeter({ usage, id }: { usage: Usage; id: string }) {
  return (
    <div className="usage">
      <div className="usage-head">
        <span id={`${id}-label`}>Used of quota</span>
        <span className={`usage-value level-${usage.level}`}>{usage.label}</span>
      </div>
      <meter
        id={id}
        aria-labelledby={`${id}-label`}
        aria-valuetext={usage.label}
        min={0}
        max={1}
        low={0.9}
        high={0.999}
        optimum={0}
        value={usage.fraction}
      >
        {usage.label}
      </meter>
    </div>
  );
}
