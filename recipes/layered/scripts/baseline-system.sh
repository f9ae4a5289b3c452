#!/usr/bin/env bash
# Baseline system settings shared by every Linux role image.
set -euo pipefail

# Trust the company root CA (installed by the previous step).
update-ca-trust extract

# UTC everywhere; chrony uses the Amazon Time Sync Service.
timedatectl set-timezone UTC
grep -q '^server 169.254.169.123' /etc/chrony.conf ||
  sed -i '1i server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4' /etc/chrony.conf

# SELinux enforcing (the AL2023 default is permissive).
sed -ri 's/^SELINUX=.*/SELINUX=enforcing/' /etc/selinux/config

# Journald: persistent, bounded, forwarded to rsyslog for the CloudWatch agent.
mkdir -p /etc/systemd/journald.conf.d
cat > /etc/systemd/journald.conf.d/50-baseline.conf <<'CONF'
[Journal]
Storage=persistent
SystemMaxUse=512M
ForwardToSyslog=yes
CONF

# Record what the instance was built from, for support staff.
cat > /etc/motd <<'MOTD'
This host runs the ACME hardened Linux baseline. Changes made by hand are overwritten:
change the recipe in the platform-images repository instead.
MOTD
