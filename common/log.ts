import pino, { type DestinationStream, type Logger as Pino } from 'pino';
import PinoPretty from 'pino-pretty';
import { Context } from '@temporalio/activity';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { config } from './config';

/**
 * One pino logger per process: JSON lines on stdout (one object a line, `msg`, `level` as a name,
 * `time` as ISO), or pino-pretty's readable lines when stdout is a terminal. `service` names the process
 * (api, control, host); lines about an operation carry workflowId, vmId and backupId.
 */
export function createLogger(service: string, destination?: DestinationStream, level = config.logLevel): Pino {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  // Synchronous, in this thread: a crash still prints its last lines.
  if (process.stdout.isTTY) return pino(options, PinoPretty({ colorize: true, sync: true }));
  return pino(options, pino.destination({ dest: 1, sync: true }));
}

let processLogger: Pino | undefined;

/** The process's logger, made on first use (workers/runtime.ts or api/server.ts choose its service name first). */
export function logger(service = 'backflow'): Pino {
  processLogger ??= createLogger(service);
  return processLogger;
}

const LEVELS: Record<LogLevel, pino.Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/**
 * The Temporal SDK's logger interface on top of pino: the Runtime hands it the workflows' `log` lines
 * (through a sink that is not called during replay, so a replayed workflow logs nothing twice), the
 * activities' `log` lines and the SDK's own, each with its workflowId and the attributes our interceptors add.
 */
export class TemporalPinoLogger implements TemporalLogger {
  constructor(private readonly pino: Pino) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    // An activity's task token completes it: a credential, not for logs.
    const { taskToken: _, ...rest } = meta ?? {};
    this.pino[LEVELS[level] ?? 'info'](rest, message);
  }
  trace(message: string, meta?: LogMetadata) { this.log('TRACE', message, meta); }
  debug(message: string, meta?: LogMetadata) { this.log('DEBUG', message, meta); }
  info(message: string, meta?: LogMetadata) { this.log('INFO', message, meta); }
  warn(message: string, meta?: LogMetadata) { this.log('WARN', message, meta); }
  error(message: string, meta?: LogMetadata) { this.log('ERROR', message, meta); }
}

/** What a log line says about its operation, from an activity's or a step's input: its VM, backup and restore. */
export function subjectOf(input: unknown): Record<string, string> {
  if (!input || typeof input !== 'object') return {};
  const i = input as Record<string, unknown>;
  const out: Record<string, string> = {};
  const vmId = i.vmId ?? i.vmUuid;
  if (typeof vmId === 'string') out.vmId = vmId;
  if (typeof i.backupId === 'string') out.backupId = i.backupId;
  if (typeof i.restoreId === 'string') out.restoreId = i.restoreId;
  return out;
}

/**
 * Inside an activity, its logger (each line with its workflowId and its input's ids, through the Runtime
 * into pino); outside one (a catalog step called directly, as tests do), the process's logger.
 */
export function activityLog(): Pick<TemporalLogger, 'info' | 'warn' | 'error'> {
  try {
    return Context.current().log;
  } catch {
    return new TemporalPinoLogger(logger());
  }
}
