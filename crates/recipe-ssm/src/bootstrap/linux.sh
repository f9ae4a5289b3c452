#!/bin/bash
# recipe-ssm-bootstrap:install (v1). Run once, as root, on the machine whose image becomes your base:
# it installs a boot-time service that registers the SSM agent with the activation recipe makes for
# each build (docs/workspaces.md, docs/appstream.md: "How the SSM agent gets onto the builder").
set -euo pipefail
install -d -m 0755 /usr/local/sbin
cat > /usr/local/sbin/recipe-ssm-bootstrap <<'BOOT'
#!/bin/bash
# Registers this machine's SSM agent with the activation kept in /recipe/activation/<its name>.
set -u
region='@REGION@'
profile='@PROFILE@'
[ -r /etc/profile.d/appstream_system_vars.sh ] && . /etc/profile.d/appstream_system_vars.sh
name=@NAME@
if [ -s /var/lib/amazon/ssm/registration ]; then exit 0; fi
for _ in $(seq 1 360); do
  if v=$(aws ssm get-parameter --profile "$profile" --region "$region" --name "/recipe/activation/$name" \
      --with-decryption --query Parameter.Value --output text 2>/dev/null); then
    read -r id code <<<"$v"
    if amazon-ssm-agent -register -y -id "$id" -code "$code" -region "$region"; then
      systemctl restart amazon-ssm-agent
      exit 0
    fi
  fi
  sleep 10
done
echo "recipe-ssm-bootstrap: no activation for $name in $region after an hour" >&2
exit 1
BOOT
chmod 0755 /usr/local/sbin/recipe-ssm-bootstrap
cat > /etc/systemd/system/recipe-ssm-bootstrap.service <<'UNIT'
[Unit]
Description=Register the SSM agent with this build's activation (recipe)
After=network-online.target amazon-ssm-agent.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/recipe-ssm-bootstrap

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable recipe-ssm-bootstrap.service
