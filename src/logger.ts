// Structured logs: pino JSON lines on stdout; the level comes from the configuration.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: 'opencloud' }, timestamp: pino.stdTimeFunctions.isoTime });
}
