// The OCI Distribution error codes as a table (code -> HTTP status and default message), and the
// error class registry handlers throw. The server's error handler renders it in the OCI envelope.
import { HttpError } from '../server/envelope.js';

export const OCI_ERRORS = {
  BLOB_UNKNOWN: [404, 'blob unknown to registry'],
  BLOB_UPLOAD_INVALID: [400, 'blob upload invalid'],
  BLOB_UPLOAD_UNKNOWN: [404, 'blob upload unknown to registry'],
  DIGEST_INVALID: [400, 'provided digest did not match uploaded content'],
  MANIFEST_BLOB_UNKNOWN: [400, 'manifest references a manifest or blob unknown to registry'],
  MANIFEST_INVALID: [400, 'manifest invalid'],
  MANIFEST_UNKNOWN: [404, 'manifest unknown to registry'],
  NAME_INVALID: [400, 'invalid repository name'],
  NAME_UNKNOWN: [404, 'repository name not known to registry'],
  SIZE_INVALID: [400, 'provided length did not match content length'],
  UNAUTHORIZED: [401, 'authentication required'],
  DENIED: [403, 'requested access to the resource is denied'],
  UNSUPPORTED: [405, 'the operation is unsupported'],
  TOOMANYREQUESTS: [429, 'too many requests'],
  RANGE_INVALID: [416, 'requested range not satisfiable'],
} as const satisfies Record<string, readonly [number, string]>;

export type OciCode = keyof typeof OCI_ERRORS;

export class OciError extends HttpError {
  constructor(code: OciCode, message?: string, detail?: unknown, status?: number) {
    const [defaultStatus, defaultMessage] = OCI_ERRORS[code];
    super(status ?? defaultStatus, code, message ?? defaultMessage, detail);
  }
}
