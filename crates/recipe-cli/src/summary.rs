//! The end of an apply: how long each recipe took, the images it made per region, and what failed,
//! paused or was skipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use recipe_engine::Report;
use recipe_engine::apply::ApplyReport;
use recipe_plan::Plan;

use crate::exit::Exit;
use crate::progress::{Progress, text::clock};

fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Print the summary; the exit code says how the run ended.
pub fn summary(plan: &Plan, done: &ApplyReport, progress: &Progress, json: bool) -> Exit {
    let report = &done.report;
    let images: BTreeMap<&String, &BTreeMap<String, String>> = done
        .outputs
        .0
        .iter()
        .filter(|(_, o)| !o.images.is_empty())
        .map(|(r, o)| (r, &o.images))
        .collect();
    let durations = progress.durations();
    if json {
        let took: BTreeMap<&String, u128> =
            durations.iter().map(|(r, d)| (r, d.as_millis())).collect();
        out(&serde_json::json!({ "event": "done", "ok": report.ok(), "images": images, "failed": report.failed, "paused": report.paused, "skipped": report.skipped, "cancelled": report.cancelled, "elapsed-ms": progress.elapsed().as_millis(), "recipe-ms": took }).to_string());
    } else {
        out("");
        out(&format!("Summary ({} in all):", clock(progress.elapsed())));
        for line in recipe_lines(plan, &images, &durations) {
            out(&line);
        }
        for line in trouble_lines(plan, report) {
            out(&line);
        }
        out(&outcome_line(plan, report));
    }
    exit_code(report)
}

fn exit_code(report: &Report) -> Exit {
    if report.ok() {
        Exit::Ok
    } else if report.failed.is_empty() && !report.paused.is_empty() && !report.cancelled {
        Exit::Paused
    } else if report.cancelled {
        Exit::Interrupted
    } else {
        Exit::Failed
    }
}

/// Per recipe that ran: its version, how long it took, and one line per region with its image.
fn recipe_lines(
    plan: &Plan,
    images: &BTreeMap<&String, &BTreeMap<String, String>>,
    durations: &BTreeMap<String, Duration>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (recipe, took) in durations {
        let version = plan
            .recipes
            .iter()
            .find(|r| &r.recipe == recipe)
            .and_then(|r| r.build.as_ref())
            .map(|b| format!(" {}", b.version))
            .unwrap_or_default();
        lines.push(format!("  {recipe}{version}: {}", clock(*took)));
        for (region, id) in images.get(recipe).into_iter().flat_map(|m| m.iter()) {
            lines.push(format!("      {region:<16} {id}"));
        }
    }
    lines
}

/// What failed (with why), what stopped at a gate, and how many actions of which recipe were
/// skipped or never started.
fn trouble_lines(plan: &Plan, report: &Report) -> Vec<String> {
    let name = |id: &usize| {
        plan.actions
            .get(*id)
            .map(|a| format!("{}: {}", a.recipe, a.action))
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    for (id, why) in &report.failed {
        lines.extend(crate::progress::text::fit(&format!(
            "  failed  {}: {why}",
            name(id)
        )));
    }
    for id in report.paused.keys() {
        lines.push(format!("  paused  {} (at a gate)", name(id)));
    }
    for (what, ids) in [
        ("skipped", &report.skipped),
        ("not started", &report.not_started),
    ] {
        let mut per: BTreeMap<&str, usize> = BTreeMap::new();
        for id in ids {
            if let Some(a) = plan.actions.get(*id) {
                *per.entry(a.recipe.as_str()).or_default() += 1;
            }
        }
        for (recipe, n) in per {
            lines.push(format!("  {what}  {n} action(s) of {recipe}"));
        }
    }
    lines
}

fn outcome_line(plan: &Plan, report: &Report) -> String {
    if report.ok() {
        return format!("Apply complete: {} actions succeeded.", plan.actions.len());
    }
    if report.failed.is_empty() && !report.paused.is_empty() && !report.cancelled {
        return format!(
            "Apply paused at {} gate(s): {} succeeded, {} waiting behind the gate. Do what the gate says, then run `recipe apply` again to go on.",
            report.paused.len(),
            report.succeeded.len(),
            report.skipped.len()
        );
    }
    format!(
        "Apply incomplete: {} succeeded, {} failed, {} skipped, {} not started{}.",
        report.succeeded.len(),
        report.failed.len(),
        report.skipped.len(),
        report.not_started.len(),
        if report.cancelled {
            " (interrupted)"
        } else {
            ""
        }
    )
}
