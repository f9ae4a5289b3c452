//! Plans for people: terminal text and Markdown for pull-request comments. Pure: returns strings.

use std::fmt::Write;

use crate::plan::{Change, Plan, RecipePlan};

/// `1h 5m`, `12m`, `40s`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m"),
        _ => format!("{h}h {m}m"),
    }
}

fn header(plan: &Plan) -> String {
    let (build, update, none) = plan.summary();
    let (copies, retire) = plan.removals();
    let copies = if copies > 0 {
        format!(", {} to remove", plural(copies, "copy"))
    } else {
        String::new()
    };
    format!("{build} to build, {update} to update, {retire} to retire{copies}, {none} unchanged")
}

fn steps_line(label: &str, steps: &[String]) -> String {
    if steps.is_empty() {
        format!("{label}: (none)")
    } else {
        format!("{label} ({}): {}", steps.len(), steps.join(" · "))
    }
}

fn plural(n: usize, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {word}s"),
    }
}

/// What happens to a recipe's new image in this plan: copied and shared only when it is.
fn after_capture(plan: &Plan, recipe: &str) -> String {
    use crate::ActionKind;
    let mine = || plan.actions.iter().filter(|a| a.recipe == recipe);
    let copied = mine().any(|a| matches!(a.action, ActionKind::Copy { .. }));
    let shared = mine().any(|a| matches!(a.action, ActionKind::Share { .. }));
    match (copied, shared) {
        (true, true) => "captured, tagged, then copied and shared",
        (true, false) => "captured, tagged, then copied",
        (false, true) => "captured, tagged, then shared",
        (false, false) => "captured and tagged",
    }
    .to_string()
}

/// The lines for a recipe's visible actions; shares and revokes with the same reason are grouped as
/// "share with A, B in r1, r2".
fn action_lines(plan: &Plan, recipe: &str) -> Vec<(char, String, String)> {
    use std::collections::BTreeMap;

    use crate::ActionKind;
    let mut lines = Vec::new();
    // (marker, verb, reason) → principal → regions
    let mut groups: BTreeMap<(char, &str, &str), BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    let mut order: Vec<(char, &str, &str)> = Vec::new();
    for a in plan
        .actions
        .iter()
        .filter(|a| a.recipe == recipe && a.action.marker() != ' ')
    {
        let (verb, principals, region) = match &a.action {
            ActionKind::Share {
                principals, region, ..
            } => ("share with", principals, region),
            ActionKind::Unshare { principals, region } => ("revoke", principals, region),
            ActionKind::Capture { build_id, .. } => {
                let name = plan
                    .recipes
                    .iter()
                    .find(|r| r.recipe == recipe)
                    .and_then(|r| r.build.as_ref())
                    .map(|b| b.image_name.as_str())
                    .filter(|n| !n.is_empty());
                lines.push((
                    a.action.marker(),
                    match name {
                        Some(n) => format!("image {n} [{build_id}]"),
                        None => format!("image {build_id}"),
                    },
                    after_capture(plan, recipe),
                ));
                continue;
            }
            other => {
                lines.push((other.marker(), other.to_string(), a.reason.clone()));
                continue;
            }
        };
        let key = (a.action.marker(), verb, a.reason.as_str());
        if !groups.contains_key(&key) {
            order.push(key);
        }
        let group = groups.entry(key).or_default();
        for principal in principals {
            group
                .entry(principal.as_str())
                .or_default()
                .push(region.as_str());
        }
    }
    for key in order {
        let by_principal = &groups[&key];
        // Principals with the same regions share one line.
        let mut by_regions: BTreeMap<Vec<&str>, Vec<&str>> = BTreeMap::new();
        for (p, regions) in by_principal {
            let mut r = regions.clone();
            r.sort_unstable();
            by_regions.entry(r).or_default().push(p);
        }
        for (regions, principals) in by_regions {
            lines.push((
                key.0,
                format!(
                    "{} {} in {}",
                    key.1,
                    principals.join(", "),
                    regions.join(", ")
                ),
                key.2.to_string(),
            ));
        }
    }
    lines
}

/// The critical path with consecutive actions of one recipe folded: `a: resolve-base … tag → b: …`.
fn path_summary(plan: &Plan) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    let path = &plan.critical_path.actions;
    while i < path.len() {
        let recipe = &plan.actions[path[i]].recipe;
        let mut j = i;
        while j + 1 < path.len() && plan.actions[path[j + 1]].recipe == *recipe {
            j += 1;
        }
        let first = plan.actions[path[i]].action.name();
        let last = plan.actions[path[j]].action.name();
        parts.push(if i == j {
            format!("{recipe}: {first}")
        } else {
            format!("{recipe}: {first} … {last}")
        });
        i = j + 1;
    }
    parts.join(" → ")
}

fn marker(r: &RecipePlan) -> char {
    match r.change {
        Change::Build => '+',
        Change::Update => '~',
        Change::None => ' ',
    }
}

/// Terminal output: grouped by recipe with `+` / `~` / `-` markers, the baked/launch split, and the
/// critical path.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    for r in &plan.recipes {
        let _ = write!(
            out,
            "{} {} ({}, {})",
            marker(r),
            r.recipe,
            r.target.as_str(),
            r.strategy.as_str()
        );
        match (&r.build, r.change) {
            (Some(b), _) => {
                let _ = writeln!(out, ": build {} [{}]", b.version, b.build_id);
                for why in &b.reasons {
                    let _ = writeln!(out, "    because {why}");
                }
                if let Some(route) = &b.route {
                    let _ = writeln!(out, "    route: {route}");
                }
                let _ = writeln!(out, "    {}", steps_line("baked", &r.baked));
                let _ = writeln!(out, "    {}", steps_line("at launch", &r.launch));
            }
            (None, Change::Update) => {
                let _ = writeln!(out, ": no rebuild");
            }
            _ => {
                let _ = writeln!(out, ": up to date");
            }
        }
        for (m, what, why) in action_lines(plan, &r.recipe) {
            let _ = writeln!(out, "    {m} {what}  ({why})");
        }
        for p in &r.problems {
            let _ = writeln!(out, "    problem: {p}");
        }
        for n in &r.notes {
            let kind = if n.starts_with("warning:") {
                ""
            } else {
                "note: "
            };
            let _ = writeln!(out, "    {kind}{n}");
        }
    }
    let _ = writeln!(out, "\n{}", summary_line(plan));
    let problems: usize = plan.recipes.iter().map(|r| r.problems.len()).sum();
    if problems > 0 {
        let _ = writeln!(
            out,
            "Preflight: {problems} problem(s) above; apply refuses those builds until they are fixed (plan exits 1)."
        );
    }
    let _ = writeln!(out, "{}", where_line(plan));
    if plan.has_changes() {
        let cp = &plan.critical_path;
        let _ = writeln!(
            out,
            "Critical path: {}, {} of {}: {}",
            duration(cp.total_secs),
            plural(cp.actions.len(), "action"),
            plan.actions.len(),
            path_summary(plan)
        );
    } else {
        let _ = writeln!(out, "No changes: the images match the recipes.");
    }
    wrap(&out, WIDTH)
}

/// Where the human plan wraps: logs keep lines under 200 characters (the timestamped event lines too).
const WIDTH: usize = 180;

/// Lines longer than `width` broken at spaces; a continuation is indented four past its line.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let mut current = String::new();
        for word in line.trim_start().split(' ') {
            let len = current.chars().count();
            if len > indent && len + 1 + word.chars().count() > width {
                out.push_str(current.trim_end());
                out.push('\n');
                current = " ".repeat(indent + 4);
            } else if len == 0 {
                current = " ".repeat(indent);
            } else if !current.trim().is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(current.trim_end());
        out.push('\n');
    }
    out
}

/// `Plan: 1 to build, 0 to update, 0 to retire, 2 unchanged.`
pub fn summary_line(plan: &Plan) -> String {
    format!("Plan: {}.", header(plan))
}

/// Which account and default region the plan builds in, and where the region came from.
pub fn where_line(plan: &Plan) -> String {
    let c = &plan.cloud;
    match &c.account {
        Some(account) => format!(
            "Account {account}, default build region {} (from {}).",
            c.region, c.region_source
        ),
        None => format!(
            "Default build region {} (from {}); the account was not asked.",
            c.region, c.region_source
        ),
    }
}

/// Preflight problems, warnings and notes as quoted lines, outside the folded details so a review
/// sees them (the human format prints them under each recipe).
fn markdown_notes(plan: &Plan) -> String {
    let mut out = String::new();
    for r in &plan.recipes {
        for p in &r.problems {
            let _ = writeln!(out, "\n> **problem** (`{}`): {p}", r.recipe);
        }
        for n in &r.notes {
            let text = n.strip_prefix("warning: ").map_or_else(
                || format!("note (`{}`): {n}", r.recipe),
                |w| format!("**warning** (`{}`): {w}", r.recipe),
            );
            let _ = writeln!(out, "\n> {text}");
        }
    }
    out
}

/// Markdown for a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::from("### recipe plan\n\n");
    let _ = writeln!(out, "**{}**\n", header(plan));
    let _ = writeln!(out, "{}\n", where_line(plan));
    if !plan.has_changes() {
        out.push_str("No changes: the images match the recipes.\n");
        out.push_str(&markdown_notes(plan));
        return out;
    }
    out.push_str("| | recipe | target | strategy | change | why |\n|---|---|---|---|---|---|\n");
    for r in &plan.recipes {
        let why = match &r.build {
            Some(b) => b.reasons.join("; "),
            None => {
                let n = plan.actions.iter().filter(|a| a.recipe == r.recipe).count();
                if n == 0 {
                    String::new()
                } else {
                    format!("{n} action(s)")
                }
            }
        };
        let change = match r.change {
            Change::Build => "build",
            Change::Update => "update",
            Change::None => "none",
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {change} | {why} |",
            marker(r),
            r.recipe,
            r.target.as_str(),
            r.strategy.as_str()
        );
    }
    for r in plan.recipes.iter().filter(|r| r.change != Change::None) {
        let _ = writeln!(
            out,
            "\n<details><summary><code>{}</code></summary>\n",
            r.recipe
        );
        if r.build.is_some() {
            let _ = writeln!(
                out,
                "- {}\n- {}",
                steps_line("baked", &r.baked),
                steps_line("at launch", &r.launch)
            );
        }
        for (m, what, why) in action_lines(plan, &r.recipe) {
            let _ = writeln!(out, "- `{m}` {what} — {why}");
        }
        out.push_str("\n</details>\n");
    }
    out.push_str(&markdown_notes(plan));
    let _ = writeln!(
        out,
        "\nCritical path: **{}** ({})",
        duration(plan.critical_path.total_secs),
        path_summary(plan)
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_lines_wrap_at_spaces_under_their_indent() {
        let text = "    baked (3): alpha beta · gamma delta · epsilon\nshort\n\n";
        assert_eq!(
            super::wrap(text, 24),
            "    baked (3): alpha\n        beta · gamma\n        delta · epsilon\nshort\n\n"
        );
    }
}
