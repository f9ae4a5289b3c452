#!/usr/bin/env bash
# First boot: apply the portal playbook for this instance's stage with ansible-pull.
# Inputs (environment): PLAYBOOK_REPO, PLAYBOOK_BRANCH. The stage comes from the instance's
# Stage tag (instance metadata tags must be enabled in the launch template).
set -euo pipefail

token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
stage=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" \
  http://169.254.169.254/latest/meta-data/tags/instance/Stage 2>/dev/null || echo prod)

ansible-pull \
  --url "$PLAYBOOK_REPO" \
  --checkout "$PLAYBOOK_BRANCH" \
  --directory /var/lib/ansible-pull/portal \
  --inventory localhost, \
  --extra-vars "portal_stage=$stage" \
  site.yml
