/**
 * Which writes of a pass may run side by side: not one under (or, case aside, equal to) a
 * path written before it in the pass, nor one above a path written before it. Paths come in
 * sorted order, so a directory's path comes before the paths in it.
 */
export class WriteOrder {
  /** Paths written so far, folded to lower case. */
  private readonly written = new Set<string>();
  /** Every directory above a path written so far, folded. */
  private readonly above = new Set<string>();

  independent(p: string): boolean {
    const key = p.toLowerCase();
    let dependent = this.written.has(key) || this.above.has(key);
    for (let i = key.indexOf('/'); i >= 0; i = key.indexOf('/', i + 1)) {
      const dir = key.slice(0, i);
      if (this.written.has(dir)) dependent = true;
      this.above.add(dir);
    }
    this.written.add(key);
    return !dependent;
  }
}
