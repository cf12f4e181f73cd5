// What `opencloud install` is asked to do: resolved once by the CLI from its flags and the
// installed config file.
export interface DeployOptions {
  /** host:port the server listens on (written to the config file when it lacks one, or when given). */
  listen: string;
  listenGiven: boolean;
  dataDir: string;
  /** The program to install: a checkout with dist/ built, or an installed copy. */
  source: string;
  /** The node binary the unit and the launcher run. */
  node: string;
  readyTimeout: number;
  lockTimeout: number;
}
