//! Progress as text: lines for people (short, timestamped in logs) and JSON events for tools.

use std::time::Duration;

use recipe_engine::Event;

/// No line of the line mode is longer (characters).
pub const MAX_LINE: usize = 200;

/// A long line (an error, a gate's instructions) broken at spaces into lines that fit; each
/// continuation is indented.
pub fn fit(text: &str) -> Vec<String> {
    // Room for the timestamp in front.
    let width = MAX_LINE - 10;
    text.lines()
        .flat_map(|l| {
            if l.chars().count() <= width {
                vec![l.to_string()]
            } else {
                recipe_plan::render::wrap(l, width)
                    .lines()
                    .map(|p| cut(p).into_owned())
                    .collect()
            }
        })
        .collect()
}

/// A line cut to fit, with `…` where it was cut (a word longer than a line, a builder's output).
pub fn cut(line: &str) -> std::borrow::Cow<'_, str> {
    let width = MAX_LINE - 10;
    if line.chars().count() <= width {
        return line.into();
    }
    let kept: String = line.chars().take(width - 1).collect();
    format!("{kept}…").into()
}

/// `  ⋯ web: copy to eu-west-1 — waiting 2m 10s for ami-… to become available (running 2m 15s)`.
pub fn heartbeat(
    name: &str,
    since: std::time::Instant,
    waiting: Option<&(String, std::time::Instant)>,
) -> String {
    let running = clock(since.elapsed());
    match waiting {
        Some((on, from)) => format!(
            "  ⋯ {name}: still waiting for {on} [{} elapsed; running {running}]",
            clock(from.elapsed())
        ),
        None => format!("  ⋯ {name}: still running [{running} elapsed]"),
    }
}

/// `2m10s`, `45s`, `1h02m`: to the second, as Terraform's "Still creating... [2m10s elapsed]".
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

pub fn event_id(e: &Event) -> usize {
    match e {
        Event::Resumed { id }
        | Event::Started { id, .. }
        | Event::Retrying { id, .. }
        | Event::Succeeded { id, .. }
        | Event::Failed { id, .. }
        | Event::Paused { id, .. }
        | Event::Skipped { id, .. }
        | Event::Waiting { id, .. }
        | Event::Queued { id, .. }
        | Event::Output { id, .. } => *id,
        _ => 0,
    }
}

/// What became of a builder of a build that did not finish.
pub fn released_line(l: &recipe_engine::Leftover, r: &recipe_engine::Released) -> String {
    use recipe_engine::Released;
    let (b, recipe) = (&l.builder, &l.recipe);
    match r {
        Released::Terminated => {
            format!("  ✓ terminated the builder {b} of {recipe} (its build did not finish)")
        }
        Released::Kept => format!(
            "  ! kept the builder {b} of {recipe} for debugging (tagged recipe:keep=debug; terminate it when done)"
        ),
        Released::Untouched => format!(
            "  ✓ left {b} of {recipe} running: it is the recipe's base, not a builder this apply made"
        ),
        Released::KeptUnmarked(why) => format!(
            "  ! kept the builder {b} of {recipe} for debugging, but could not tag it ({why}): tag it recipe:keep=debug by hand, or the next apply terminates it"
        ),
        Released::Failed(why) => format!(
            "  ! the builder {b} of {recipe} could not be terminated ({why}): terminate it by hand"
        ),
    }
}

/// An engine event as a JSON line: the event's own fields, its recipe and the time.
pub fn json_event(e: &Event, name: &str, recipe: &str) -> serde_json::Value {
    let mut v = json_fields(e, name);
    if let Some(o) = v.as_object_mut() {
        if o.contains_key("action") {
            o.insert("recipe".into(), recipe.into());
        }
        o.insert("at".into(), jiff::Timestamp::now().to_string().into());
    }
    v
}

fn json_fields(e: &Event, name: &str) -> serde_json::Value {
    match e {
        Event::Resumed { id } => {
            serde_json::json!({ "event": "resumed", "action": id, "name": name })
        }
        Event::Started { id, attempt } => {
            serde_json::json!({ "event": "started", "action": id, "name": name, "attempt": attempt })
        }
        Event::Retrying {
            id,
            attempt,
            error,
            wait_ms,
        } => {
            serde_json::json!({ "event": "retrying", "action": id, "name": name, "attempt": attempt, "error": error, "wait-ms": wait_ms })
        }
        Event::Succeeded { id, elapsed_ms, .. } => {
            serde_json::json!({ "event": "succeeded", "action": id, "name": name, "elapsed-ms": elapsed_ms })
        }
        Event::Failed { id, error } => {
            serde_json::json!({ "event": "failed", "action": id, "name": name, "error": error })
        }
        Event::Skipped { id, because } => {
            serde_json::json!({ "event": "skipped", "action": id, "name": name, "because": because })
        }
        Event::Paused { id, instructions } => {
            serde_json::json!({ "event": "paused", "action": id, "name": name, "instructions": instructions })
        }
        Event::Queued { id, on } => {
            serde_json::json!({ "event": "queued", "action": id, "name": name, "on": on })
        }
        _ => serde_json::json!({ "event": "other" }),
    }
}

/// An engine event as a line for people (`None`: nothing worth a line).
pub fn human_event(e: &Event, name: &dyn Fn(usize) -> String) -> Option<String> {
    Some(match e {
        Event::Resumed { id } => format!("  ↺ {} (done in an earlier run)", name(*id)),
        Event::Started { id, attempt: 1 } => format!("  … {}", name(*id)),
        Event::Queued { id, on } => format!("  ⧗ {} queued ({on})", name(*id)),
        Event::Started { .. } => return None,
        Event::Retrying {
            id,
            attempt,
            error,
            wait_ms,
        } => format!(
            "  ↻ {} attempt {attempt} failed ({error}); retrying in {:.1}s",
            name(*id),
            *wait_ms as f64 / 1000.0
        ),
        Event::Succeeded { id, elapsed_ms, .. } => format!(
            "  ✓ {} ({})",
            name(*id),
            clock(Duration::from_millis(*elapsed_ms))
        ),
        Event::Failed { id, error } => format!("  ✗ {}: {error}", name(*id)),
        Event::Paused { id, instructions } => {
            format!("  ⏸ {} stopped at a gate: {instructions}", name(*id))
        }
        Event::Skipped { id, because } => {
            format!(
                "  - {} (skipped: {} did not finish)",
                name(*id),
                name(*because)
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_queued_action_says_what_it_waits_for_in_both_outputs() {
        let e = Event::Queued {
            id: 3,
            on: "20 of 20 builders in use in ec2 eu-west-1".into(),
        };
        let name = |_: usize| "web: launch builder".to_string();
        assert_eq!(
            human_event(&e, &name).as_deref(),
            Some("  ⧗ web: launch builder queued (20 of 20 builders in use in ec2 eu-west-1)")
        );
        let json = json_event(&e, "web: launch builder", "web");
        assert_eq!(json["recipe"], "web");
        assert_eq!(json["event"], "queued");
        assert_eq!(json["on"], "20 of 20 builders in use in ec2 eu-west-1");
        assert_eq!(event_id(&e), 3);
    }

    #[test]
    fn a_long_error_is_wrapped_and_an_unbroken_one_cut() {
        let words = "word ".repeat(100);
        let lines = fit(&format!("  ✗ web: {words}"));
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= MAX_LINE - 10));
        assert!(lines[1].starts_with("      word"), "{lines:?}");
        let blob = "x".repeat(500);
        let cut = fit(&blob);
        assert_eq!(cut.len(), 1);
        assert!(cut[0].ends_with('…'));
    }

    #[test]
    fn the_heartbeat_says_what_it_waits_for_and_how_long() {
        let since = Instant::now() - Duration::from_secs(135);
        let on = (
            "ami-1 in eu-west-1 to become available".to_string(),
            Instant::now() - Duration::from_secs(130),
        );
        assert_eq!(
            heartbeat("web: copy to eu-west-1", since, Some(&on)),
            "  ⋯ web: copy to eu-west-1: still waiting for ami-1 in eu-west-1 to become available [2m10s elapsed; running 2m15s]"
        );
        assert_eq!(
            heartbeat("web: tag", since, None),
            "  ⋯ web: tag: still running [2m15s elapsed]"
        );
        assert_eq!(clock(Duration::from_secs(3725)), "1h02m");
    }
}
