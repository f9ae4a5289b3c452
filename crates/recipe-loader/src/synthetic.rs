//! Synthetic recipe sets for benchmarks and load tests: realistic recipes, layered, with shared
//! components and scripts.

use std::path::Path;

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}

/// Write `n` recipes under `dir/recipes` (one in ten a baseline, the rest layered on one), five shared
/// components and their scripts.
pub fn generate(dir: &Path, n: usize) -> std::io::Result<()> {
    for c in 0..5 {
        write(
            &dir.join(format!("components/hardening-{c}.yaml")),
            &format!(
                "description: hardening set {c}\nsteps:\n  - shell: {{ run: \"sysctl -w net.ipv4.conf.all.rp_filter=1 # {c}\" }}\n  - packages: {{ install: [aide, audit] }}\n  - script: {{ path: ../scripts/harden-{c}.sh, args: [\"--level\", \"2\"] }}\n"
            ),
        )?;
        write(
            &dir.join(format!("scripts/harden-{c}.sh")),
            &"#!/bin/bash\nset -euo pipefail\nchmod 600 /etc/ssh/sshd_config\n".repeat(20),
        )?;
    }
    let baselines = (n / 10).max(1);
    for i in 0..n {
        let base = if i < baselines {
            "base: { ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 }".to_string()
        } else {
            format!("base: {{ recipe: baseline-{} }}", i % baselines)
        };
        let name = if i < baselines {
            format!("baseline-{i}")
        } else {
            format!("app-{i}")
        };
        let text = format!(
            r#"# yaml-language-server: $schema=../schemas/recipe.schema.json
name: {name}
description: generated recipe {i} for the validation benchmark
target: ec2-ami
strategy: thin
os: linux
version: 1.{i}.0
variables:
  app_version: {{ default: "2.{i}.1" }}
  region: {{ default: eu-west-2 }}
{base}
builder: {{ instance-type: t3.small, region: "${{region}}", subnet-id: subnet-0abc1234, instance-profile: recipe-builder }}
steps:
  - update-os: {{}}
  - include: ../components/hardening-{c}.yaml
  - packages: {{ install: [amazon-cloudwatch-agent, puppet-agent] }}
  - shell: {{ run: "systemctl enable puppet && echo ${{app_version}}", timeout: 10m, retries: 2 }}
  - download: {{ url: "https://example.com/app-${{app_version}}.rpm", dest: /tmp/app.rpm, sha256: "{sha}" }}
  - shell: {{ run: "puppet agent --onetime --tags app", stage: launch }}
  - reboot: {{}}
tests:
  - shell: {{ run: systemctl is-active puppet }}
cleanup: linux
image:
  name: "{name}-${{version}}-${{timestamp}}"
  tags: {{ Role: web, System: storefront, Project: storefront, CostCenter: "1234", Stage: dev }}
distribute:
  regions: [eu-west-1, us-east-1]
  share: {{ accounts: ["111122223333", "444455556666"] }}
retain: {{ keep: 3, deprecate-after: 90d }}
"#,
            c = i % 5,
            sha = "a".repeat(64),
        );
        write(&dir.join(format!("recipes/{name}.yaml")), &text)?;
    }
    Ok(())
}
