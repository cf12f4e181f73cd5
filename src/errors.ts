// Typed errors shared by the CLI and the server. Each carries the exit code the CLI's single
// top-level catch uses, so a failure anywhere maps to one predictable process status.

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 64, // EX_USAGE
  dataErr: 65, // EX_DATAERR: a document that does not validate
  unavailable: 69, // EX_UNAVAILABLE: a daemon or dependency is missing
  software: 70, // EX_SOFTWARE: a bug
  noPerm: 77, // EX_NOPERM: needs root
  cantCreate: 73, // EX_CANTCREAT: data dir not writable
  config: 78, // EX_CONFIG
} as const;

export class OpenCloudError extends Error {
  readonly exitCode: number = EXIT.failure;
  /** A concrete next step for the user, printed after the message. */
  readonly hint: string | undefined;
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

export class UsageError extends OpenCloudError {
  override readonly exitCode = EXIT.usage;
}

export class ConfigError extends OpenCloudError {
  override readonly exitCode = EXIT.config;
}

export class DataDirError extends OpenCloudError {
  override readonly exitCode = EXIT.cantCreate;
}

/** A file the command must write cannot be (its directory is missing, read-only, a file). */
export class CannotWriteError extends OpenCloudError {
  override readonly exitCode = EXIT.cantCreate;
}

export class UnavailableError extends OpenCloudError {
  override readonly exitCode = EXIT.unavailable;
}

export class PermissionError extends OpenCloudError {
  override readonly exitCode = EXIT.noPerm;
}
