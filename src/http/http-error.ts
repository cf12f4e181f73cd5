// The error every non-registry route throws: an HTTP status, a stable code and a message. The
// server's error handler (server/envelope.ts) turns it into {error: {code, message, requestId}}.

/** An error with an HTTP status and a stable code, thrown by route handlers. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
