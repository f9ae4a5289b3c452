#!/usr/bin/env bash
# First boot: write the certificate request attributes Puppet's autosigning policy checks, then
# let the first agent run request a certificate. Reads the instance id and Role tag from IMDSv2
# (instance metadata tags must be enabled in the launch template).
# Input (environment): PUPPET_CHALLENGE, resolved by the first-boot runner; never written to logs.
set -euo pipefail

imds() {
  local token
  token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"
}

instance_id=$(imds meta-data/instance-id)
region=$(imds meta-data/placement/region)
role=$(imds meta-data/tags/instance/Role 2>/dev/null || echo base)

puppet=/opt/puppetlabs/bin/puppet
$puppet config set certname "$instance_id" --section main

umask 077
install -d -m 0750 /etc/puppetlabs/puppet
cat > /etc/puppetlabs/puppet/csr_attributes.yaml <<CSR
custom_attributes:
  1.2.840.113549.1.9.7: "$PUPPET_CHALLENGE"
extension_requests:
  pp_instance_id: "$instance_id"
  pp_region: "$region"
  pp_role: "$role"
CSR
echo "puppet enrolment prepared for $instance_id (role $role)"
