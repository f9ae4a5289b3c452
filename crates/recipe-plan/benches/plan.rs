//! Plans 1,000 layered recipes with state present for every one of them: load + read state + compute,
//! which is what `recipe plan` does. Prints wall times and the process's peak memory.
//!
//! Run: `just bench-plan` (or `cargo bench -p recipe-plan --bench plan`).
//! Options: `RECIPES` (default 1000), `RUNS` (default 10), `CHANGED` (recipes whose state is stale, so
//! they rebuild: default 100).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use recipe_plan::{Estimates, PlanOptions, StateObserver};
use recipe_state::{LocalStore, StateStore};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let n = env("RECIPES", 1000);
    let runs = env("RUNS", 10);
    let changed = env("CHANGED", 100);
    let dir = std::env::temp_dir().join(format!("recipe-bench-plan-{}", std::process::id()));
    recipe_loader::synthetic::generate(&dir, n).expect("write the recipes");
    let paths = vec![dir.join("recipes")];
    let store = LocalStore::new(dir.join("state"));
    let options = PlanOptions {
        estimates: Estimates::default(),
        targets: vec![],
        unfinished: Default::default(),
        now: "2026-06-01T00:00:00Z".parse().expect("a timestamp"),
        cloud: recipe_plan::CloudInfo {
            account: None,
            region: "us-east-1".into(),
            region_source: "the benchmark".into(),
            ..Default::default()
        },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // State for every recipe: the plan of an empty store, recorded as built. `CHANGED` of them then
    // get a stale fingerprint, so the measured plan has builds, layering and no-ops.
    let set = recipe_loader::load(&paths, &recipe_targets::load_options());
    let first = rt
        .block_on(recipe_plan::plan(&set, &store, &StateObserver, &options))
        .expect("first plan");
    let mut outputs = recipe_plan::Outputs::default();
    for (i, rp) in first.recipes.iter().enumerate() {
        let b = rp.build.as_ref().expect("everything builds first");
        for r in &b.regions {
            let made = recipe_plan::RecipeOutputs::image(r, format!("ami-{i:017x}"));
            outputs.add(&rp.recipe, &made);
        }
    }
    let succeeded = first.actions.iter().map(|a| a.id).collect();
    let applied = recipe_plan::Applied {
        succeeded: &succeeded,
        outputs: &outputs,
        now: options.now,
    };
    let recorded = recipe_plan::record(&first, &applied, &BTreeMap::new());
    for (i, mut state) in recorded.into_iter().enumerate() {
        if i % (n / changed.max(1)).max(1) == 0 && i < n && changed > 0 {
            state.versions[0].fingerprint = "sha256:stale".into();
        }
        rt.block_on(store.save(&state, None)).expect("save");
    }

    let mut times: Vec<Duration> = Vec::new();
    let mut summary = (0, 0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let set = recipe_loader::load(&paths, &recipe_targets::load_options());
        let plan = rt
            .block_on(recipe_plan::plan(&set, &store, &StateObserver, &options))
            .expect("plan");
        times.push(start.elapsed());
        summary = plan.summary();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "plan {n} recipes with state ({} build, {} update, {} unchanged): median {:.1} ms, min {:.1} ms, max {:.1} ms over {runs} runs; peak RSS {:.1} MB",
        summary.0,
        summary.1,
        summary.2,
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[runs - 1]),
        peak_rss_mb()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
