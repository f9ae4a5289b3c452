#!/usr/bin/env bash
# CIS level 1 items that are easier as commands than as files: banners, permissions, services.
set -euo pipefail

banner='Authorised use only. Activity on this system is monitored and recorded.'
printf '%s\n' "$banner" > /etc/issue
printf '%s\n' "$banner" > /etc/issue.net
chmod 0644 /etc/issue /etc/issue.net

# 6.1: permissions on account files.
chmod 0644 /etc/passwd /etc/group
chmod 0000 /etc/shadow /etc/gshadow
chown root:root /etc/passwd /etc/group /etc/shadow /etc/gshadow

# 5.1.1: sshd configuration readable by root only.
chmod 0600 /etc/ssh/sshd_config
find /etc/ssh/sshd_config.d -type f -exec chmod 0600 {} +

# 1.5: no core dumps.
printf '* hard core 0\n' > /etc/security/limits.d/50-cis-core.conf

# 5.4: password quality and lockout for any local account that is ever given a password.
sed -ri 's/^#?\s*minlen\s*=.*/minlen = 14/' /etc/security/pwquality.conf
sed -ri 's/^#?\s*deny\s*=.*/deny = 5/' /etc/security/faillock.conf

# 2.1: services an image never needs (ignore the ones that are not installed).
for unit in rpcbind.socket rpcbind.service avahi-daemon.socket avahi-daemon.service cups.service; do
  systemctl disable --now "$unit" 2>/dev/null || true
done

sysctl --system >/dev/null
