import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** `+79161234567` → `+7916***4567`: enough to correlate, not enough to identify. */
export function maskPhone(phone: string): string {
  if (phone.length <= 7) return '***';
  return `${phone.slice(0, 5)}***${phone.slice(-4)}`;
}

/** Masks long digit runs (phone numbers) in a URL's query string. */
export function maskUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  return url.slice(0, q) + url.slice(q).replace(/(%2B|\+)?\d{7,}/g, (m) => maskPhone(decodeURIComponent(m)));
}

/**
 * The one logger. JSON lines; API keys, passwords, cookies and message bodies
 * are redacted wherever they appear in a logged object.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'depesha' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["idempotency-key"]',
        'text',
        '*.text',
        'password',
        '*.password',
        'apiKey',
        '*.apiKey',
        'secret',
        '*.secret',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
