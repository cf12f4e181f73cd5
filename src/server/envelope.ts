// The one error handler and not-found handler of the HTTP server. Registry paths (/v2/) answer
// with the OCI error envelope; everything else with {error:{code,message,requestId}}. Client mistakes get
// 4xx with the framework's own message; anything unexpected is logged and answered as a 500
// without leaking internals.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { HttpError } from '../http/http-error.js';

export { HttpError };

export function isRegistryPath(url: string): boolean {
  return url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');
}

function send(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  detail?: unknown,
) {
  // The API's body names the request (as its X-Request-Id header does), so a report can be matched
  // to the log lines; the OCI envelope stays exactly as registry clients expect it.
  const body = isRegistryPath(req.url)
    ? { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] }
    : { error: { code, message, ...(detail === undefined ? {} : { detail }), requestId: req.id } };
  return reply.status(status).type('application/json; charset=utf-8').send(body);
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) return send(req, reply, err.statusCode, err.code, err.message, err.detail);
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'SIZE_INVALID' : (err.code ?? 'BAD_REQUEST');
      return send(
        req,
        reply,
        status,
        isRegistryPath(req.url) ? registryCode(status, code) : code,
        err.message,
      );
    }
    req.log.error({ err }, 'request failed');
    return send(
      req,
      reply,
      500,
      'INTERNAL_ERROR',
      `internal server error; the server log has the details under request id ${req.id}`,
    );
  });

  app.setNotFoundHandler((req, reply) => {
    if (isRegistryPath(req.url))
      return send(
        req,
        reply,
        404,
        'UNSUPPORTED',
        `no registry endpoint for ${req.method} ${req.url.split('?')[0]}`,
      );
    return send(req, reply, 404, 'NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`);
  });
}

/** Framework errors on /v2/ mapped to the closest OCI error code. */
function registryCode(status: number, code: string): string {
  if (code === 'SIZE_INVALID') return code;
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 429) return 'TOOMANYREQUESTS';
  return 'UNSUPPORTED';
}
