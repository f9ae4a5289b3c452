//! Schedules a plan of 5,000 actions through the executor with a runner that does nothing: what is
//! measured is the engine's own work (choosing what may start, recording outcomes, skipping), not the
//! cloud. The plan is shaped like a real one: 625 recipes of 8 chained actions, each recipe's first
//! action waiting on the previous recipe's fourth (a layered parent).
//!
//! Run: `just bench-schedule` (or `cargo bench -p recipe-engine --bench schedule`).
//! Options: `ACTIONS` (default 5000), `RUNS` (default 10), `THREADS` (1 or 2 runtime workers; default 1).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use recipe_engine::{
    Action, ActionError, ActionKind, CancelToken, EngineOptions, Journal, Lane, Outputs, Plan,
    RecipeOutputs, Runner, execute,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn plan(n: usize) -> Plan {
    let actions = (0..n)
        .map(|id| {
            let (recipe, step) = (id / 8, id % 8);
            let depends_on = match (step, recipe) {
                (0, 0) => vec![],
                (0, r) => vec![(r - 1) * 8 + 3],
                _ => vec![id - 1],
            };
            Action {
                id,
                recipe: format!("r{recipe}"),
                action: ActionKind::Tag,
                reason: String::new(),
                depends_on,
                estimate_secs: 1,
            }
        })
        .collect();
    Plan {
        format: recipe_plan::PLAN_FORMAT,
        created_at: jiff::Timestamp::UNIX_EPOCH,
        cloud: Default::default(),
        basis: Default::default(),
        recipes: vec![],
        actions,
        critical_path: Default::default(),
        adopted: Default::default(),
    }
}

struct Instant0;

impl Runner for Instant0 {
    fn lane(&self, _: &Action) -> Lane {
        Lane::new("ec2", "us-east-1")
    }
    async fn run(&self, _: &Action, _: &Outputs) -> Result<RecipeOutputs, ActionError> {
        Ok(RecipeOutputs::default())
    }
}

fn main() {
    let (n, runs) = (env("ACTIONS", 5000), env("RUNS", 10));
    // One thread, as the scheduler's own cost is what is measured: on two workers each step of the
    // chain also pays a wake-up across threads.
    let rt = if std::env::var("THREADS").is_ok_and(|t| t == "2") {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("a runtime");
    let p = plan(n);
    let opts = EngineOptions {
        parallelism: 64,
        rate_per_sec: None,
        ..EngineOptions::default()
    };
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let start = Instant::now();
            let report = rt.block_on(execute(
                &p,
                Arc::new(Instant0),
                &mut Journal::in_memory(),
                &opts,
                &tx,
                &CancelToken::new(),
            ));
            let elapsed = start.elapsed();
            assert!(report.expect("runs").ok());
            elapsed
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "schedule {n} actions: median {:.1} ms, min {:.1} ms, max {:.1} ms ({runs} runs)",
        ms(times[runs / 2]),
        ms(times[0]),
        ms(times[runs - 1])
    );
}
