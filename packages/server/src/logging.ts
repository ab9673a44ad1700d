// The server's pino logger. Lines go to stdout through an asynchronous buffered writer
// (flushed every 250 ms and at close), so logging one line per request costs little.
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

export interface ServerLogger {
  logger: Logger;
  /** Writes out what is buffered (at shutdown). */
  flush(): void;
}

export function createLogger(level: LogLevel): ServerLogger {
  if (level === 'silent') return { logger: pino({ level }), flush: () => undefined };
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 });
  const logger = pino({ level, base: { pid: process.pid } }, destination);
  return {
    logger,
    flush() {
      try {
        destination.flushSync();
      } catch {
        // stdout gone or busy: nothing more to do at shutdown
      }
    },
  };
}
