#!/usr/bin/env bash
# Unpack the storefront's static site and its web fonts into the nginx document root.
# Inputs: SITE_VERSION; /var/tmp/storefront-site.tar.gz and /var/tmp/fonts.tar.gz (earlier steps).
set -euo pipefail

root=/usr/share/nginx/storefront
install -d -m 0755 -o root -g root "$root"
tar -xzf /var/tmp/storefront-site.tar.gz -C "$root" --no-same-owner
install -d -m 0755 "$root/fonts"
tar -xzf /var/tmp/fonts.tar.gz -C "$root/fonts" --no-same-owner
rm -f /var/tmp/storefront-site.tar.gz /var/tmp/fonts.tar.gz

# The load balancer's health check reads the release from /healthz.
printf '{"status":"ok","release":"%s"}\n' "$SITE_VERSION" > "$root/healthz"

find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
restorecon -R "$root" 2>/dev/null || true
