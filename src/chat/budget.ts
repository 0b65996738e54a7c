/**
 * What one person may ask of the parent through commands whose work grows with the
 * server (/who *, /rooms): a token bucket per person, counted in rows examined. A
 * person may list a large server a few times in a row, then once every few seconds;
 * a crowd doing so from one address cannot stall the loop. Pure: the clock is given.
 */

/** Rows one person may have listed at once. */
export const LIST_BUDGET_ROWS = 5_000;
/** Rows a second the budget grows back. */
export const LIST_REFILL_ROWS_PER_SECOND = 1_000;
/** Rows a listing shows at most; the rest are counted ("and 1,980 more"). */
export const MAX_LISTED_ROWS = 200;

export class ListBudget {
  private rows = LIST_BUDGET_ROWS;

  constructor(private at: number) {}

  /**
   * Spends `rows` at time `now` (ms) and returns 0, or spends nothing and returns how
   * many seconds until that many are there. A listing costs at least one row.
   */
  take(rows: number, now: number): number {
    const cost = Math.max(1, Math.min(rows, LIST_BUDGET_ROWS));
    this.rows = Math.min(LIST_BUDGET_ROWS, this.rows + ((now - this.at) / 1000) * LIST_REFILL_ROWS_PER_SECOND);
    this.at = now;
    if (this.rows >= cost) {
      this.rows -= cost;
      return 0;
    }
    return Math.ceil((cost - this.rows) / LIST_REFILL_ROWS_PER_SECOND);
  }
}
