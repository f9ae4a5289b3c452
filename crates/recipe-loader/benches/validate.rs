//! Validates a generated set of 1,000 recipes (100 baselines, 900 layered on them, each including
//! shared components and scripts) and prints the wall time per full load + check.
//!
//! Run: `just bench-validate` (or `cargo bench -p recipe-loader --bench validate`).
//! Options through the environment: `RECIPES` (default 1000), `RUNS` (default 10).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    recipe_loader::synthetic::generate(&dir, n).expect("write the recipes");
    let paths = vec![dir.clone()];
    let options = recipe_targets::load_options();
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
