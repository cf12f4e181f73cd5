// How much a build context may hold, in both of its forms (JSON files, an uploaded archive): the
// defaults of `build.contextMaxBytes` and `build.contextMaxFiles`, and the error for a context
// over them (an HTTP 413). The config schema takes its defaults from here, so the two never differ.

export interface ContextLimits {
  /** Most bytes of file content in the context (what lands on disk), the Dockerfile included. */
  maxBytes: number;
  /** Most entries: files, directories and links of an archive; files (and the Dockerfile) of the JSON form. */
  maxFiles: number;
}

export const DEFAULT_CONTEXT_LIMITS: Readonly<ContextLimits> = {
  maxBytes: 512 * 1024 * 1024,
  maxFiles: 100_000,
};

/** The context is over a limit; the message names the limit and its config key. A 413. */
export class ContextTooLargeError extends Error {}
