//! Validates a generated set of 1,000 recipes (100 baselines, 900 layered on them, each including
//! shared components and scripts) and prints the wall time per full load + check.
//!
//! Run: `just bench-validate` (or `cargo bench -p recipe-loader --bench validate`).
//! Options through the environment: `RECIPES` (default 1000), `RUNS` (default 10).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn generate(dir: &Path, n: usize) {
    for c in 0..5 {
        write(
            &dir.join(format!("components/hardening-{c}.yaml")),
            &format!(
                "description: hardening set {c}\nsteps:\n  - shell: {{ run: \"sysctl -w net.ipv4.conf.all.rp_filter=1 # {c}\" }}\n  - packages: {{ install: [aide, audit] }}\n  - script: {{ path: ../scripts/harden-{c}.sh, args: [\"--level\", \"2\"] }}\n"
            ),
        );
        write(
            &dir.join(format!("scripts/harden-{c}.sh")),
            &"#!/bin/bash\nset -euo pipefail\nchmod 600 /etc/ssh/sshd_config\n".repeat(20),
        );
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
        write(&dir.join(format!("recipes/{name}.yaml")), &text);
    }
}

fn main() {
    let n: usize = std::env::var("RECIPES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("recipe-bench-validate-{}", std::process::id()));
    generate(&dir, n);
    let paths = vec![dir.clone()];
    let options = recipe_loader::LoadOptions::default();
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let set = recipe_loader::load(&paths, &options);
        times.push(start.elapsed());
        assert_eq!(set.recipes.len(), n, "every generated recipe loads");
        let errors: Vec<_> = set.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(
            errors.is_empty(),
            "generated recipes are valid: {:?}",
            errors.first().map(|d| &d.message)
        );
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "validate {n} recipes: median {:.1} ms, min {:.1} ms, max {:.1} ms over {runs} runs",
        ms(median),
        ms(times[0]),
        ms(times[runs - 1])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
