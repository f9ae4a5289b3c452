//! The IAM policies in docs/iam.md list every action the code calls: the examples of every target
//! are planned, then applied, against an aws-sim that logs each call, and each call must be allowed by
//! the documented policy (plan: the read-only one; apply: the apply one).

use std::collections::BTreeSet;

use super::{Env, root, walk};

/// The examples of every target, against an aws-sim that plays the person who registers builders.
async fn all_examples() -> Env {
    let e = super::operator_env(aws_sim::Durations::instant()).await;
    let dirs = ["ec2", "layered", "workspaces", "appstream", "components"];
    for f in dirs
        .iter()
        .flat_map(|d| walk(&root().join("recipes").join(d)))
    {
        let to = e.dir.path().join(f.strip_prefix(root()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, to).unwrap();
    }
    // The copies' KMS keys, as the EC2 examples name them.
    for region in ["eu-west-1", "us-east-1"] {
        let key = format!("arn:aws:kms:{region}:111122223333:alias/ami-copies");
        e.sim
            .provide_kms_key(aws_sim::DEFAULT_ACCOUNT, region, &key);
    }
    e
}

/// The IAM actions of every policy in docs/iam.md under a heading that contains `marker`.
fn documented(marker: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(root().join("docs/iam.md")).unwrap();
    let mut actions = Vec::new();
    for section in doc.split("\n### ").skip(1) {
        let heading = section.lines().next().unwrap_or_default();
        if !heading.contains(marker) {
            continue;
        }
        let start = section
            .find("```json\n")
            .unwrap_or_else(|| panic!("no policy under {heading}"))
            + 8;
        let end = section[start..].find("```").unwrap() + start;
        let policy: serde_json::Value = serde_json::from_str(&section[start..end]).unwrap();
        for s in policy["Statement"].as_array().unwrap() {
            actions.extend(
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string()),
            );
        }
    }
    assert!(!actions.is_empty(), "docs/iam.md has no `{marker}` policy");
    actions
}

/// `RunInstances` → `run_instances`: the SDK method that makes the call.
fn snake(op: &str) -> String {
    let mut out = String::new();
    for (i, c) in op.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The providers' source, where every AWS call is made.
fn provider_source() -> String {
    let mut all = String::new();
    for c in [
        "recipe-provider-ec2",
        "recipe-provider-workspaces",
        "recipe-provider-appstream",
        "recipe-ssm",
        "recipe-aws",
    ] {
        for f in walk(&root().join("crates").join(c).join("src")) {
            all.push_str(&std::fs::read_to_string(f).unwrap());
        }
    }
    all
}

/// Whether `action` (`ec2:RunInstances`) matches a policy entry (`ec2:Describe*`).
fn allowed(action: &str, policy: &[String]) -> bool {
    policy.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => action
            .to_ascii_lowercase()
            .starts_with(&prefix.to_ascii_lowercase()),
        None => p.eq_ignore_ascii_case(action),
    })
}

/// The calls logged since `from`, as IAM actions. STS GetCallerIdentity needs no permission.
fn called(e: &Env, from: usize) -> BTreeSet<String> {
    e.sim.requests().records[from..]
        .iter()
        .map(|r| r.operation.clone())
        .filter(|op| op != "sts:GetCallerIdentity" && !op.starts_with("sim:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_iam_policies_allow_every_call_the_tool_makes() {
    let e = all_examples().await;
    let (code, stdout, stderr) = e.run(&["plan", "recipes"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let plan_calls = called(&e, 0);
    let read_only = documented("plan (read-only)");
    let missing: Vec<&String> = plan_calls
        .iter()
        .filter(|a| !allowed(a, &read_only))
        .collect();
    assert!(
        missing.is_empty(),
        "plan calls what the read-only policy lacks: {missing:?}"
    );
    let from = e.sim.requests().records.len();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert!(code == 0 || code == 3, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let apply_calls = called(&e, from);
    let mut apply = documented(": apply");
    apply.extend(read_only.iter().cloned());
    let missing: Vec<&String> = apply_calls.iter().filter(|a| !allowed(a, &apply)).collect();
    assert!(
        missing.is_empty(),
        "apply calls what the apply policy lacks: {missing:?}"
    );
    // A plan after the apply reads shares, tags and fleets too: still read-only.
    let from = e.sim.requests().records.len();
    let (code, stdout, stderr) = e.run(&["plan", "recipes"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let missing: Vec<String> = called(&e, from)
        .into_iter()
        .filter(|a| !allowed(a, &read_only))
        .collect();
    assert!(
        missing.is_empty(),
        "plan calls what the read-only policy lacks: {missing:?}"
    );
    // Every action documented is one the code calls (an SDK method of that name), besides the
    // checks AWS makes on the caller that no request shows.
    let source = provider_source();
    let implied = ["iam:PassRole", "ec2:DeleteSnapshot"];
    let unknown: Vec<String> = read_only
        .iter()
        .chain(&apply)
        .filter(|a| !implied.contains(&a.as_str()))
        .filter(|a| {
            let op = a.split_once(':').map_or("", |(_, op)| op);
            !source.contains(&format!(".{}()", snake(op)))
        })
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "documented, but no code calls them: {unknown:?}"
    );
}
