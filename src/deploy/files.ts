// The files `opencloud install` writes besides the config: the systemd unit, the sudoers drop-in
// and the launcher on PATH. Pure functions of the settings, so plans can diff them.
import { CONFIG_FILE, PRIVILEGED_HELPER, PROGRAM_DIR, SERVICE_USER } from './paths.js';

export interface UnitSettings {
  /** The node binary the unit runs (the one `opencloud install` ran with). */
  node: string;
  dataDir: string;
}

export function opencloudUnit(s: UnitSettings): string {
  return `# Written by \`opencloud install\`; a later install rewrites it. Local changes: systemctl edit opencloud
[Unit]
Description=OpenCloud Container Registry (registry, builds, web UI)
Documentation=https://github.com/opencloud/container-registry
After=network-online.target containerd.service buildkit.service
Wants=network-online.target

[Service]
Type=exec
User=${SERVICE_USER}
Group=${SERVICE_USER}
# The BuildKit socket is 0660 root:buildkit. The service reaches it as a member of the buildkit
# group in /etc/group: systemd sets a service's supplementary groups from the group database at
# every start, so membership survives reboots and needs no group to exist when this unit loads
# (SupplementaryGroups=buildkit would fail the start while the group is missing).
ExecStart=${s.node} ${PROGRAM_DIR}/bin/opencloud.js serve --config ${CONFIG_FILE}
# \`systemctl reload opencloud\`: SIGHUP re-reads the TLS certificate and key (tls.cert, tls.key)
# without dropping connections; a bad new pair is logged and the old one stays in use.
ExecReload=/bin/kill -HUP $MAINPID
WorkingDirectory=${s.dataDir}
Environment=NODE_ENV=production
Restart=on-failure
RestartSec=2s
TimeoutStopSec=90s
LimitNOFILE=65536
UMask=0027
# Sandboxing that keeps what the service must do working. Host changes run through
# \`sudo ${PRIVILEGED_HELPER}\`, a child of this service: NoNewPrivileges= (and the options that
# imply it for a non-root service: PrivateDevices=, ProtectKernel*=, SystemCallFilter=,
# RestrictNamespaces=, ...) would stop sudo, and ProtectSystem= would make /usr and /etc read-only
# for the installer. What is left on: no access to home directories, a private /tmp.
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`;
}

/** The one privileged path: SERVICE_USER may run the helper as root, with no arguments at all. */
export function sudoersRule(): string {
  return `# Written by \`opencloud install\`. The server (user ${SERVICE_USER}) may run exactly this helper as
# root, with no arguments (""): the request comes on stdin and the helper validates it.
${SERVICE_USER} ALL=(root) NOPASSWD: ${PRIVILEGED_HELPER} ""
`;
}

export function launcher(node: string): string {
  return `#!/bin/sh
# Written by \`opencloud install\`: the installed OpenCloud, run with the node it was installed with.
exec ${node} ${PROGRAM_DIR}/bin/opencloud.js "$@"
`;
}
