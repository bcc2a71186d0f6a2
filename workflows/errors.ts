/** The message an operator needs: an activity failure's own message plus its cause's. */
export const errorText = (e: unknown): string =>
  e instanceof Error ? (e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message) : String(e);
