import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * Headers that carry credentials. Baton never logs request headers or bodies, but any
 * object logged under these paths (a request, an outgoing call's headers) is redacted.
 */
export const REDACTED_PATHS = [
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'headers["x-session-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-session-api-key"]',
];

export interface LoggerSettings {
  name: string;
  level: string;
  /** `LOG_PRETTY`: true or false, or undefined to decide from the terminal. */
  pretty?: boolean | undefined;
  nodeEnv?: string | undefined;
  /** Whether stdout is a terminal (`process.stdout.isTTY`). */
  isTTY?: boolean | undefined;
  /**
   * Write each line before going on (pino buffers otherwise). Set when fault injection may
   * SIGKILL the process: what it logged before the kill is then on stdout, not lost in a buffer.
   */
  sync?: boolean | undefined;
}

/** Pretty output when asked for, else when stdout is a terminal outside production. */
export function wantsPretty(settings: Pick<LoggerSettings, 'pretty' | 'nodeEnv' | 'isTTY'>): boolean {
  if (settings.pretty !== undefined) return settings.pretty;
  return Boolean(settings.isTTY) && settings.nodeEnv !== 'production';
}

export function loggerOptions(settings: LoggerSettings): LoggerOptions {
  return { name: settings.name, level: settings.level, redact: { paths: REDACTED_PATHS } };
}

/**
 * The process's pino logger: one JSON line per event on stdout, or `pino-pretty` lines
 * (loaded only then, in the same thread, so nothing is lost on exit) for people.
 */
export async function makeLogger(settings: LoggerSettings, destination?: DestinationStream): Promise<Logger> {
  const options = loggerOptions(settings);
  if (!destination && wantsPretty(settings)) {
    const { default: pretty } = await import('pino-pretty');
    return pino(options, pretty({ colorize: Boolean(settings.isTTY), ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l', singleLine: true, sync: true }));
  }
  if (destination) return pino(options, destination);
  return settings.sync ? pino(options, pino.destination({ dest: 1, sync: true })) : pino(options);
}
