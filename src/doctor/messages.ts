// The user-facing words for an unreachable daemon, shared by `opencloud doctor`, /readyz-style
// API answers and (later) POST /build-image. The BuildKit "missing" wording is the original
// system's, kept verbatim so users and scripts recognise it.
import { BUILDKIT_SOCKET, CONTAINERD_SOCKET } from '../installer/components/buildkit-pins.js';
import type { SocketError } from '../runtime/socket.js';

export const ENABLE_COMMAND = 'opencloud services enable container-registry';

export interface Explained {
  message: string;
  fix: string;
}

/**
 * What to do about a path that is not a socket. Only at the daemon's own socket path is the file
 * in the way of the daemon (left there by something else) and safe to remove; any other path was
 * configured wrongly and may be a file someone needs, so the fix is the configuration.
 */
export function notSocketFix(daemon: 'buildkit' | 'containerd', path: string): string {
  const standard = daemon === 'buildkit' ? BUILDKIT_SOCKET : CONTAINERD_SOCKET;
  if (path === standard) return `remove ${path} and run \`${ENABLE_COMMAND}\``;
  return `point ${daemon}.socket at the daemon's socket (${standard} when the installer set it up); ${path} is not one`;
}

function whoAmI(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : `uid ${uid}`;
}

export function explainDaemonFault(daemon: 'buildkit' | 'containerd', err: SocketError): Explained {
  const unit = daemon === 'buildkit' ? 'buildkit' : 'containerd';
  const name = daemon === 'buildkit' ? 'buildkit daemon' : 'containerd daemon';
  switch (err.fault) {
    case 'missing':
      return {
        message: `${name} not found at ${err.path}. Please ensure ${daemon} is installed and running.`,
        fix: `run \`${ENABLE_COMMAND}\` to install and start it`,
      };
    case 'permission':
      return {
        message: `${name} at ${err.path} refused access to ${whoAmI()} (permission denied)`,
        fix:
          daemon === 'buildkit'
            ? "run as root or as a member of the socket's group (`buildkit`); group changes need a new login or a service restart"
            : "run as root: containerd's socket is root-only",
      };
    case 'refused':
      return {
        message: `${name} is not running: ${err.message}`,
        fix: `start it with \`systemctl start ${unit}\`, or run \`${ENABLE_COMMAND}\` to repair the install`,
      };
    case 'not-socket':
      return {
        message: `${name} socket is broken: ${err.message}`,
        fix: notSocketFix(daemon, err.path),
      };
    case 'timeout':
      return {
        message: `${name} at ${err.path} is not answering: ${err.message}`,
        fix: `look at its log (\`journalctl -u ${unit} -n 50\`) and restart it`,
      };
    default:
      return {
        message: `${name} at ${err.path} failed: ${err.message}`,
        fix: `look at its log (\`journalctl -u ${unit} -n 50\`); \`${ENABLE_COMMAND}\` re-verifies the install`,
      };
  }
}
