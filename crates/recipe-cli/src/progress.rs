//! How `apply` shows progress: a live view on a terminal (indicatif), lines in logs, or JSON lines.
//!
//! The live view keeps one line per running action with its elapsed time and what it waits on ("ami-…
//! to become available"), a bar counting finished actions, and prints each outcome above them as it
//! happens, so the scrollback reads like the line mode.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use recipe_engine::Event;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// JSON lines on stdout (`--json`).
    Json,
    /// One line per event on stdout (logs, CI, pipes).
    Lines,
    /// A live view on the terminal (stderr), outcomes printed above it.
    Live,
}

impl Mode {
    /// Live on a terminal unless `--json`, `CI` is set, or the terminal is dumb.
    pub fn pick(json: bool) -> Mode {
        if json {
            Mode::Json
        } else if std::io::stderr().is_terminal()
            && std::env::var_os("CI").is_none()
            && std::env::var("TERM").is_ok_and(|t| t != "dumb")
        {
            Mode::Live
        } else {
            Mode::Lines
        }
    }
}

struct Live {
    multi: MultiProgress,
    total: ProgressBar,
    running: HashMap<usize, ProgressBar>,
}

/// The progress of one apply.
pub struct Progress {
    mode: Mode,
    names: Vec<String>,
    recipes: Vec<String>,
    live: Mutex<Option<Live>>,
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Progress {
    /// Progress for a plan's actions.
    pub fn new(mode: Mode, plan: &recipe_plan::Plan) -> Progress {
        let names: Vec<String> = plan
            .actions
            .iter()
            .map(|a| format!("{}: {}", a.recipe, a.action))
            .collect();
        let recipes = plan.actions.iter().map(|a| a.recipe.clone()).collect();
        let live = (mode == Mode::Live).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(names.len() as u64));
            total.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} actions · {elapsed} · {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            total.enable_steady_tick(Duration::from_millis(250));
            Live {
                multi,
                total,
                running: HashMap::new(),
            }
        });
        Progress {
            mode,
            names,
            recipes,
            live: Mutex::new(live),
        }
    }

    fn name(&self, id: usize) -> String {
        self.names.get(id).cloned().unwrap_or_default()
    }

    /// Print a line above the live view, or on stdout.
    fn line(&self, text: &str) {
        match &*lock(&self.live) {
            Some(l) => {
                let _ = l.multi.println(text);
            }
            None => out(text),
        }
    }

    fn refresh_total(l: &Live) {
        let running = l.running.len() as u64;
        let waiting = l
            .total
            .length()
            .unwrap_or(0)
            .saturating_sub(l.total.position() + running);
        l.total
            .set_message(format!("{running} running, {waiting} waiting to start"));
    }

    /// An engine event.
    pub fn event(&self, e: &Event) {
        match e {
            Event::Waiting { id, on } => return self.waiting(*id, on),
            Event::Output { id, step, line } => {
                let recipe = self.recipes.get(*id).cloned().unwrap_or_default();
                return self.output(&recipe, step, line);
            }
            Event::Swept(swept) => return self.swept(swept),
            Event::Released { leftover, released } => {
                return self.note(&released_line(leftover, released));
            }
            Event::Discarded { image, result } => {
                let (i, recipe, region) = (&image.image, &image.recipe, &image.region);
                return self.note(&match result {
                    Ok(()) => format!("  ✓ deregistered {i} in {region}, the image of {recipe}'s unfinished build"),
                    Err(why) => format!("  ! {i} in {region}, the image of {recipe}'s unfinished build, could not be deregistered ({why}); the next apply sweeps it"),
                });
            }
            _ => {}
        }
        if self.mode == Mode::Json {
            out(&json_event(e, &self.name(event_id(e))).to_string());
            return;
        }
        if let Some(l) = &mut *lock(&self.live) {
            match e {
                Event::Started { id, attempt: 1 } => {
                    let bar = l.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {elapsed:>4} {prefix} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(self.name(*id));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    l.running.insert(*id, bar);
                }
                Event::Succeeded { id, .. }
                | Event::Failed { id, .. }
                | Event::Paused { id, .. }
                | Event::Skipped { id, .. }
                | Event::Resumed { id } => {
                    if let Some(bar) = l.running.remove(id) {
                        bar.finish_and_clear();
                        l.multi.remove(&bar);
                    }
                    l.total.inc(1);
                }
                _ => {}
            }
            Self::refresh_total(l);
            if matches!(e, Event::Started { .. }) {
                // The spinner shows it.
                return;
            }
        }
        if let Some(text) = human_event(e, &|id| self.name(id)) {
            self.line(&text);
        }
    }

    /// A running action now waits on `on`.
    pub fn waiting(&self, id: usize, on: &str) {
        match self.mode {
            Mode::Json => out(&serde_json::json!({ "event": "waiting", "action": id, "name": self.name(id), "on": on }).to_string()),
            Mode::Lines => out(&format!("    {}: waiting for {on}", self.name(id))),
            Mode::Live => {
                if let Some(l) = &*lock(&self.live)
                    && let Some(bar) = l.running.get(&id)
                {
                    bar.set_message(format!("— waiting for {on}"));
                }
            }
        }
    }

    /// A line of a step's output on the builder.
    pub fn output(&self, recipe: &str, step: &str, line: &str) {
        if self.mode == Mode::Json {
            out(&serde_json::json!({ "event": "output", "recipe": recipe, "step": step, "line": line }).to_string());
        } else {
            self.line(&format!("    {recipe} │ {line}"));
        }
    }

    /// A note that is not an engine event (sweeps, cleanup).
    pub fn note(&self, text: &str) {
        if self.mode == Mode::Json {
            out(&serde_json::json!({ "event": "note", "text": text }).to_string());
        } else {
            self.line(text);
        }
    }

    /// What the sweep before the run removed, and what it could not.
    fn swept(&self, swept: &recipe_engine::Swept) {
        for b in &swept.builders {
            self.note(&format!(
                "  ✓ terminated a builder left by an earlier run that was not resumed: {b}"
            ));
        }
        for i in &swept.images {
            self.note(&format!(
                "  ✓ deregistered an image left by an interrupted apply that was not resumed: {i}"
            ));
        }
        for p in &swept.problems {
            self.note(&format!("  ! {p}"));
        }
    }

    /// Clear the live view before the summary.
    pub fn finish(&self) {
        if let Some(l) = lock(&self.live).take() {
            for bar in l.running.values() {
                bar.finish_and_clear();
            }
            l.total.finish_and_clear();
            let _ = l.multi.clear();
        }
    }
}

fn event_id(e: &Event) -> usize {
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
fn released_line(l: &recipe_engine::Leftover, r: &recipe_engine::Released) -> String {
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

/// An engine event as a JSON line.
pub fn json_event(e: &Event, name: &str) -> serde_json::Value {
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
            recipe_plan::render::duration(elapsed_ms / 1000)
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
        let json = json_event(&e, "web: launch builder");
        assert_eq!(json["event"], "queued");
        assert_eq!(json["on"], "20 of 20 builders in use in ec2 eu-west-1");
        assert_eq!(event_id(&e), 3);
    }
}
