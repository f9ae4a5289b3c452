//! How `apply` shows progress: a live view on a terminal (indicatif), lines in logs, or JSON lines.
//!
//! The live view keeps one line per running action with its elapsed time and what it waits on ("ami-…
//! to become available"), a bar counting finished actions, and prints each outcome above them as it
//! happens, so the scrollback reads like the line mode.
//!
//! The line mode (logs, CI) prints a timestamped line when an action starts and when it ends, each
//! under [`text::MAX_LINE`] characters, and a heartbeat line per running action while it runs:
//! what it waits for and for how long.

pub mod text;

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use recipe_engine::Event;

pub use text::{event_id, human_event, json_event, released_line};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// JSON lines on stdout (`--json`).
    Json,
    /// One line per event on stdout (logs, CI, pipes).
    Lines,
    /// A live view on the terminal (stderr), outcomes printed above it.
    Live,
    /// Only failures, gates and problems (`--quiet`).
    Quiet,
}

impl Mode {
    /// Live on a terminal unless `--json`, `--quiet`, `CI` is set, or the terminal is dumb.
    pub fn pick(json: bool, quiet: bool) -> Mode {
        if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
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

/// A running action: since when, and what it waits on since when.
struct Running {
    since: Instant,
    waiting: Option<(String, Instant)>,
}

/// What the run did so far, for heartbeats and the summary.
#[derive(Default)]
struct Track {
    running: BTreeMap<usize, Running>,
    /// Per recipe: when its first action started and its last one ended.
    spans: BTreeMap<String, (Instant, Instant)>,
}

/// The progress of one apply.
pub struct Progress {
    mode: Mode,
    names: Vec<String>,
    recipes: Vec<String>,
    live: Mutex<Option<Live>>,
    track: Mutex<Track>,
    begun: Instant,
    /// The step whose output each recipe printed last, so a new step's output gets a header.
    steps: Mutex<HashMap<String, String>>,
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// A line-mode line: the local time first.
fn stamped(line: &str) -> String {
    let now = jiff::Zoned::now();
    format!("{} {line}", now.strftime("%H:%M:%S"))
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
            track: Mutex::default(),
            begun: Instant::now(),
            steps: Mutex::default(),
        }
    }

    fn name(&self, id: usize) -> String {
        self.names.get(id).cloned().unwrap_or_default()
    }

    /// Print a line above the live view, or on stdout (timestamped, and wrapped to fit).
    fn line(&self, text: &str) {
        match &*lock(&self.live) {
            Some(l) => {
                let _ = l.multi.println(text);
            }
            None => {
                for part in text::fit(text) {
                    out(&stamped(&part));
                }
            }
        }
    }

    /// Follow the run: what runs, since when, and on what it waits.
    fn follow(&self, e: &Event) {
        let mut t = lock(&self.track);
        let now = Instant::now();
        match e {
            Event::Started { id, .. } => {
                t.running.entry(*id).or_insert(Running {
                    since: now,
                    waiting: None,
                });
                if let Some(r) = self.recipes.get(*id) {
                    t.spans.entry(r.clone()).or_insert((now, now));
                }
            }
            Event::Waiting { id, on } => {
                if let Some(r) = t.running.get_mut(id) {
                    r.waiting = Some((on.clone(), now));
                }
            }
            Event::Succeeded { id, .. } | Event::Failed { id, .. } | Event::Paused { id, .. } => {
                t.running.remove(id);
                if let Some(span) = self.recipes.get(*id).and_then(|r| t.spans.get_mut(r)) {
                    span.1 = now;
                }
            }
            _ => {}
        }
    }

    /// One line per running action: what it waits for and how long (line mode only; the live view
    /// shows it already, and `--json` has the waiting events).
    pub fn heartbeat(&self) {
        if self.mode != Mode::Lines {
            return;
        }
        let lines: Vec<String> = lock(&self.track)
            .running
            .iter()
            .map(|(id, r)| text::heartbeat(&self.name(*id), r.since, r.waiting.as_ref()))
            .collect();
        for l in lines {
            self.line(&l);
        }
    }

    /// How long each recipe's actions ran, from its first start to its last end.
    pub fn durations(&self) -> BTreeMap<String, Duration> {
        lock(&self.track)
            .spans
            .iter()
            .map(|(r, (a, b))| (r.clone(), b.duration_since(*a)))
            .collect()
    }

    /// How long the apply has run.
    pub fn elapsed(&self) -> Duration {
        self.begun.elapsed()
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
        self.follow(e);
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
            let id = event_id(e);
            let recipe = self.recipes.get(id).map_or("", String::as_str);
            out(&json_event(e, &self.name(id), recipe).to_string());
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
        let worth =
            self.mode != Mode::Quiet || matches!(e, Event::Failed { .. } | Event::Paused { .. });
        if worth && let Some(text) = human_event(e, &|id| self.name(id)) {
            self.line(&text);
        }
    }

    /// A running action now waits on `on`.
    pub fn waiting(&self, id: usize, on: &str) {
        match self.mode {
            Mode::Json => {
                let recipe = self.recipes.get(id).map_or("", String::as_str);
                let at = jiff::Timestamp::now().to_string();
                out(&serde_json::json!({ "event": "waiting", "action": id, "name": self.name(id), "recipe": recipe, "on": on, "at": at }).to_string());
            }
            // The heartbeat says it, once per interval, instead of a line per change.
            Mode::Lines | Mode::Quiet => {}
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
        match self.mode {
            Mode::Json => {
                let at = jiff::Timestamp::now().to_string();
                out(&serde_json::json!({ "event": "output", "recipe": recipe, "step": step, "line": line, "at": at }).to_string());
            }
            Mode::Quiet => {}
            _ => {
                let new_step = lock(&self.steps).insert(recipe.to_string(), step.to_string())
                    != Some(step.to_string());
                if new_step {
                    self.line(&text::cut(&format!("    {recipe} ── {step}")));
                }
                self.line(&text::cut(&format!("    {recipe} │ {line}")));
            }
        }
    }

    /// A note that is not an engine event (sweeps, cleanup).
    pub fn note(&self, text: &str) {
        match self.mode {
            Mode::Json => {
                let at = jiff::Timestamp::now().to_string();
                out(&serde_json::json!({ "event": "note", "text": text, "at": at }).to_string());
            }
            // Problems only.
            Mode::Quiet if !text.trim_start().starts_with('!') => {}
            _ => self.line(text),
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
