/**
 * Structured logs: one JSON object per line on stderr (pino), so a log shipper can index fields
 * like `controller` and `key` without parsing prose. Operators handle kubeconfigs, Secrets and
 * tokens, so any field whose name says it holds a secret is censored before it is written, at any
 * depth and in child bindings too.
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** What a censored value is replaced with. */
export const REDACTED = '[REDACTED]';

/**
 * Field names whose values are never written, compared case-insensitively (`Authorization`
 * headers). `data` and `stringData` cover Secrets, whose values are only base64, not encrypted.
 */
export const SECRET_FIELD_NAMES: readonly string[] = ['token', 'password', 'keyPem', 'privateKey', 'data', 'stringData', 'authorization', 'userData'];

const secretFields = new Set(SECRET_FIELD_NAMES.map((n) => n.toLowerCase()));

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LEVELS)[number];

export interface CreateLoggerOptions {
  /** Written as `name` on every line: the component (`cluster-operator`, `events`). */
  readonly name: string;
  /** @default - `KOK_LOG_LEVEL` from the environment, else 'info' */
  readonly level?: LogLevel;
  /** Where lines go. @default - stderr, written synchronously so a crash loses no line */
  readonly destination?: DestinationStream;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const level = options.level ?? levelFromEnv(process.env.KOK_LOG_LEVEL);
  return pino(
    {
      name: options.name,
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        // Level names rather than pino's numbers: people read and grep these lines too.
        level: (label) => ({ level: label }),
        bindings: (bindings) => censorSecrets(bindings) as Record<string, unknown>,
        log: (obj) => censorSecrets(obj) as Record<string, unknown>,
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

function levelFromEnv(value: string | undefined): LogLevel {
  if (value === undefined || value === '') return 'info';
  const level = value.toLowerCase();
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new Error(`KOK_LOG_LEVEL "${value}" is not a log level; use one of ${LEVELS.join(', ')}`);
  }
  return level as LogLevel;
}

/**
 * A copy of `value` with every secret field censored, at any depth. Only plain objects and arrays
 * are walked: class instances (errors, dates, buffers) keep their own serialisation. Subtrees
 * without secrets are shared, not copied, so ordinary log lines cost next to nothing.
 * pino's own path-based `redact` was not used: it needs one wildcard path per depth and slowed
 * every line about fifteenfold with the paths that cover a kubeconfig's `users[].user.token`.
 * Secrets interpolated into the message string (`log.info('token %s', t)`) cannot be seen here.
 */
export function censorSecrets(value: unknown): unknown {
  return censor(value, new Map());
}

const inProgress = Symbol('inProgress');

/** `done` remembers each object's censored form: an object reached twice must be censored twice. */
function censor(value: unknown, done: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (done.has(value)) {
    const result = done.get(value);
    // A cycle back to an object still being copied: its original may hold secrets.
    return result === inProgress ? '[Circular]' : result;
  }
  if (Array.isArray(value)) {
    done.set(value, inProgress);
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const censored = censor(item, done);
      if (censored !== item) (copy ??= [...value])[i] = censored;
    });
    done.set(value, copy ?? value);
    return copy ?? value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  done.set(value, inProgress);
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const censored = secretFields.has(key.toLowerCase()) ? (item === undefined ? item : REDACTED) : censor(item, done);
    if (censored !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = censored;
  }
  done.set(value, copy ?? value);
  return copy ?? value;
}
