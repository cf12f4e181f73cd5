// What a request log line may show of a URL: query values that can carry secrets (build
// arguments, tokens, passwords) are replaced, whatever route the URL reaches and however its
// names are encoded. A build argument keeps its name (`buildArg=NPM_TOKEN=***`): which argument
// was given helps; its value never reaches a log.
const SECRET_KEYS =
  /^(buildarg|secret|secrets|password|passwd|token|access_token|refresh_token|client_secret)$/i;

/** The URL with the values of secret-bearing query parameters replaced by `***`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(url.slice(q + 1));
  } catch {
    return `${url.slice(0, q)}?[unparsable query redacted]`;
  }
  let changed = false;
  const out: string[] = [];
  for (const [key, value] of params) {
    if (!SECRET_KEYS.test(key)) {
      out.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
      continue;
    }
    changed = true;
    const eq = value.indexOf('=');
    const kept = /^buildarg$/i.test(key) && eq > 0 ? `${encodeURIComponent(value.slice(0, eq))}=` : '';
    out.push(`${encodeURIComponent(key)}=${kept}***`);
  }
  return changed ? `${url.slice(0, q)}?${out.join('&')}` : url;
}

/** Pino's `req` serializer for request log lines (Fastify hands it the request). */
export function requestForLog(req: {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url ?? ''),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}
