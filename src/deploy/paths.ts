// Where `opencloud install` puts OpenCloud itself on a systemd host: fixed names and paths shared
// by the installer, the unit, the sudoers rule, the privileged helper and `doctor`.

/** The system user and group the server runs as (no login shell, home = the data dir). */
export const SERVICE_USER = 'opencloud';
/** The program: a copy of bin/, dist/, proto/, package.json and the production node_modules. */
export const PROGRAM_DIR = '/usr/lib/opencloud';
/** What the server runs, through sudo, for host changes; the one command the sudoers rule allows. */
export const PRIVILEGED_HELPER = `${PROGRAM_DIR}/bin/opencloud-privileged`;
/** The sudoers drop-in that allows `SERVICE_USER` exactly `PRIVILEGED_HELPER` with no arguments. */
export const SUDOERS_FILE = '/etc/sudoers.d/opencloud';
/** The `opencloud` command on PATH for administrators. */
export const LAUNCHER = '/usr/local/bin/opencloud';
export const UNIT = 'opencloud.service';
export const UNIT_PATH = `/etc/systemd/system/${UNIT}`;
export const INSTALLED_DATA_DIR = '/var/lib/opencloud';
export const CONFIG_DIR = '/etc/opencloud';
export const CONFIG_FILE = `${CONFIG_DIR}/config.yaml`;
/** Root's own working area for host changes the server requests (backups, downloads, Go caches). */
export const PRIVILEGED_STATE_DIR = '/var/lib/opencloud-privileged';
