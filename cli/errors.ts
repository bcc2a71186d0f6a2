/**
 * Exit codes scripts can rely on: 0 done; 1 the API refused (its 4xx message on stderr); 2 bad usage or
 * configuration; 3 the API could not be reached or failed (5xx, 503 while PostgreSQL or Temporal is away);
 * 4 the operation ran and failed (with --wait: the backup or restore ended Failed).
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, unavailable: 3, failed: 4 } as const;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.refused) {
    super(message);
  }
}
