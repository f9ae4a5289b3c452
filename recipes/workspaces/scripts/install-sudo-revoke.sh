#!/usr/bin/env bash
# Install a boot-time service that removes the sudo rights WorkSpaces gives the WorkSpace user
# (/etc/sudoers.d/01-ws-admin-user), so users cannot change the managed configuration.
set -euo pipefail

install -m 0750 -o root -g root /dev/stdin /usr/local/sbin/revoke-workspace-sudo <<'SCRIPT'
#!/usr/bin/env bash
set -euo pipefail
for f in /etc/sudoers.d/01-ws-admin-user; do
  if [ -e "$f" ]; then
    rm -f "$f"
    logger -t revoke-workspace-sudo "removed $f"
  fi
done
SCRIPT

cat > /etc/systemd/system/revoke-workspace-sudo.service <<'UNIT'
[Unit]
Description=Remove WorkSpace user sudo rights
After=local-fs.target
Before=systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/revoke-workspace-sudo

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable revoke-workspace-sudo.service
