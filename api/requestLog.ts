import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { pinoHttp } from 'pino-http';
import { logger } from '../common/log';

/**
 * One JSON line per request (pino-http): method, route, status, time taken and a request id (also sent
 * back as X-Request-Id), at info; 5xx at error. The API key never appears: only these headers are kept.
 */
export function requestLog() {
  return pinoHttp({
    logger: logger('api'),
    genReqId: (req, res) => {
      const id = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    serializers: {
      req: (req: IncomingMessage & { id?: string }) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}
