// Structured logs: pino JSON lines on stdout; the level comes from the configuration. Request
// lines never carry secret query values (http/log-redaction.ts).
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';
import { requestForLog } from './http/log-redaction.js';

export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'opencloud' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { req: requestForLog },
  });
}
