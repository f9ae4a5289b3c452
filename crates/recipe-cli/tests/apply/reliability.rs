//! Reliability runs: applies killed at random points, faults at rates, lost answers, concurrent
//! applies, and invalid input against a live endpoint. Each run prints a figures line and asserts the
//! goals (no leaked builder, no duplicate, no wrong final state, no panic).
//!
//! CI runs the short versions. The figures in docs/reliability.md come from the long ones:
//! `RELIABILITY_TRIALS=60 cargo test -p recipe-cli --test apply reliability -- --nocapture
//! --test-threads 1` (or `just reliability`).

#![allow(
    clippy::print_stdout,
    reason = "each run prints its figures line, for docs/reliability.md"
)]

use std::collections::BTreeMap;
use std::time::Instant;

use recipe_state::StateStore;

use super::{Env, env, root, walk};

/// Trials for the kill -9 run: `RELIABILITY_TRIALS`, else a short run for CI.
fn trials() -> usize {
    std::env::var("RELIABILITY_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// xorshift64*: the trial's kill point, repeatable from its seed.
fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move |below| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }
}

/// What is wrong with the cloud and state after a run that should have converged.
#[derive(Debug, Default)]
struct Audit {
    leaked_builders: usize,
    duplicates: Vec<String>,
    unrecorded_images: Vec<String>,
    wrong_state: Vec<String>,
}

impl Audit {
    fn clean(&self) -> bool {
        self.leaked_builders == 0
            && self.duplicates.is_empty()
            && self.unrecorded_images.is_empty()
            && self.wrong_state.is_empty()
    }
}

impl Env {
    /// Check the cloud against state: every recorded image exists and is available; every live
    /// recipe image is recorded; no builder runs; nothing is duplicated; a plan has nothing to do.
    async fn audit(&self) -> Audit {
        let store = recipe_state::LocalStore::new(self.dir.path().join(".recipe/state"));
        let mut recorded = BTreeMap::new();
        for name in store.list().await.unwrap() {
            let s = store.load(&name).await.unwrap().unwrap().state;
            for v in &s.versions {
                for img in v.images.values() {
                    recorded.insert(img.image_id.clone(), name.clone());
                }
            }
        }
        let w = self.sim.world();
        let mut audit = Audit {
            leaked_builders: self.builders_running(),
            duplicates: self.duplicates(),
            ..Audit::default()
        };
        for (id, recipe) in &recorded {
            match w.ec2.images.get(id) {
                Some(i) if i.state == "available" => {}
                Some(i) => audit
                    .wrong_state
                    .push(format!("{recipe}: {id} is {}", i.state)),
                None => audit
                    .wrong_state
                    .push(format!("{recipe}: {id} does not exist")),
            }
        }
        let live = w.ec2.images.values().filter(|i| i.state != "deregistered");
        for i in live.filter(|i| i.tags.contains_key("recipe:build-id")) {
            if !recorded.contains_key(&i.id) {
                audit
                    .unrecorded_images
                    .push(format!("{} {} {}", i.id, i.name, i.state));
            }
        }
        drop(w);
        let (code, stdout, _) = self
            .run(&["plan", "recipes/layered", "--detailed-exitcode"])
            .await;
        if code != 0 {
            audit
                .wrong_state
                .push(format!("a plan after it has changes: {stdout}"));
        }
        audit
    }
}

/// kill -9 at a random point of an apply, then a plain re-apply: it converges at once, with no
/// leaked builder, duplicate, unrecorded image, wrong state or panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_then_one_re_apply_converges() {
    let n = trials();
    let (mut first_time, mut ended, mut problems) = (0, 0, Vec::new());
    let started = Instant::now();
    for trial in 0..n {
        let mut next = rng(trial as u64 + 1);
        let e = env().await;
        // A full apply of recipes/layered prints about 70 event lines.
        let (events, jitter) = (next(75) as usize, next(30));
        let mut seen = 0;
        let killed = e
            .kill_9_when(
                move |_| {
                    seen += 1;
                    seen > events
                },
                jitter,
            )
            .await;
        ended += usize::from(killed.ended);
        let stderr = killed.stderr;
        let (code, stdout, stderr2) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
        for out in [&stderr, &stdout, &stderr2] {
            if out.contains("panicked") {
                problems.push(format!("trial {trial}: a panic: {out}"));
            }
        }
        if code == 0 {
            first_time += 1;
        } else {
            problems.push(format!(
                "trial {trial} (kill after {events} events): re-apply exit {code}: {stderr2}"
            ));
            continue;
        }
        let audit = e.audit().await;
        if !audit.clean() {
            problems.push(format!(
                "trial {trial} (kill after {events} events): {audit:?}"
            ));
        }
    }
    println!(
        "kill -9: {n} trials ({ended} ended before the kill), {first_time} converged on the first re-apply, {} problems, {:.0} s",
        problems.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Throttling at 20% and 5xx at 5%: the apply succeeds; the figures line counts the retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_20_and_5xx_5_percent_succeed() {
    let e = env().await;
    e.sim.set_faults(aws_sim::Faults {
        throttle_rate: 0.2,
        error_rate: 0.05,
        seed: 20,
        ..Default::default()
    });
    let (code, stdout, stderr) = e
        .run(&["apply", "recipes/layered", "--auto-approve", "--json"])
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let log = e.sim.requests();
    let faulted = log.records.iter().filter(|r| r.fault.is_some()).count();
    let engine_retries = stdout
        .lines()
        .filter(|l| l.contains("\"retrying\""))
        .count();
    println!(
        "throttle 20% + 5xx 5%: succeeded; {} requests, {faulted} faulted (retried by the SDK), {engine_retries} action retries by the engine",
        log.records.len()
    );
    e.sim.set_faults(aws_sim::Faults::default());
    let audit = e.audit().await;
    assert!(audit.clean(), "{audit:?}");
}

/// Throttling at 50% and 5xx at 20%: the apply may fail, and then cleanly (no builder left, no
/// pending image); once the faults stop, a re-apply converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_50_and_5xx_20_percent_fail_cleanly_and_a_re_apply_converges() {
    let e = env().await;
    e.sim.set_faults(aws_sim::Faults {
        throttle_rate: 0.5,
        error_rate: 0.2,
        seed: 50,
        ..Default::default()
    });
    let (code, stdout, stderr) = e
        .run(&[
            "apply",
            "recipes/layered",
            "--auto-approve",
            "--lock-timeout",
            "5s",
        ])
        .await;
    let faulted = e
        .sim
        .requests()
        .records
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(!stderr.contains("panicked"), "{stderr}");
    e.sim.set_faults(aws_sim::Faults::default());
    let left = (e.builders_running(), e.images_unfinished());
    e.apply_ok(&[]).await;
    let audit = e.audit().await;
    println!(
        "throttle 50% + 5xx 20%: first apply exit {code} ({faulted} faulted requests), left after it: {} builders, {} unfinished images; re-apply exit 0; audit clean: {}",
        left.0,
        left.1.len(),
        audit.clean()
    );
    if code != 0 {
        assert_eq!(left, (0, Vec::new()), "a failure leaves nothing: {stdout}");
    }
    assert!(audit.clean(), "{audit:?}");
}

/// Lost answers at a rate: 20% of the calls that change something take effect and answer 500. Client
/// tokens, adoption by name and by command key keep every resource single.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_at_20_percent_make_no_duplicate() {
    let e = env().await;
    e.sim.set_faults(aws_sim::Faults {
        lost_rate: 0.2,
        seed: 3,
        ..Default::default()
    });
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    let lost = e
        .sim
        .requests()
        .records
        .iter()
        .filter(|r| r.fault.as_deref().is_some_and(|f| f.ends_with("(taken)")))
        .count();
    e.sim.set_faults(aws_sim::Faults::default());
    let code2 = if code == 0 {
        0
    } else {
        e.run(&["apply", "recipes/layered", "--auto-approve"])
            .await
            .0
    };
    let audit = e.audit().await;
    println!(
        "lost answers 20%: {lost} answers lost, apply exit {code}, then {code2}; duplicates {:?}",
        audit.duplicates
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(audit.clean(), "{audit:?}");
}

/// Two applies of the same recipes at once on one state: one builds, the other waits for the lock,
/// plans again and finds nothing to do; both exit 0, and never two builds of a recipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_applies_on_one_state_build_once() {
    let e = env().await;
    let args = [
        "apply",
        "recipes/layered",
        "--auto-approve",
        "--lock-timeout",
        "2m",
    ];
    let (a, b) = tokio::join!(e.run(&args), e.run(&args));
    let codes = [a.0, b.0];
    assert_eq!(codes, [0, 0], "both succeed: {a:?} {b:?}");
    let replanned = [&a.2, &b.2]
        .iter()
        .filter(|s| s.contains("planning again now that the locks are held"))
        .count();
    let audit = e.audit().await;
    println!(
        "two applies of the same recipes: exits {codes:?}, {replanned} planned again under the lock; audit clean: {}",
        audit.clean()
    );
    assert!(audit.clean(), "{audit:?}");
    let builds = e.sim.world().ec2.instances.len();
    assert_eq!(builds, 2, "one builder per recipe");
}

/// Two applies of disjoint recipes at once in one checkout: both succeed, each with its own run
/// journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_applies_of_disjoint_recipes_both_succeed() {
    let e = env().await;
    // A second, independent recipe beside the others (so its files resolve): the baseline, renamed.
    let dir = e.dir.path().join("recipes/layered");
    let baseline = std::fs::read_to_string(dir.join("linux-baseline.yaml")).unwrap();
    let renamed = baseline
        .replace("name: linux-baseline", "name: other-baseline")
        .replace("/images/linux-baseline/", "/images/other-baseline/");
    std::fs::write(dir.join("other-baseline.yaml"), renamed).unwrap();
    let a = [
        "apply",
        "recipes/layered/linux-baseline.yaml",
        "recipes/layered/web-on-baseline.yaml",
        "--auto-approve",
    ];
    let b = [
        "apply",
        "recipes/layered/other-baseline.yaml",
        "--auto-approve",
    ];
    let (ra, rb) = tokio::join!(e.run(&a), e.run(&b));
    assert_eq!(ra.0, 0, "{ra:?}");
    assert_eq!(rb.0, 0, "{rb:?}");
    assert_eq!(e.duplicates(), Vec::<String>::new());
    assert_eq!(e.builders_running(), 0);
    println!("two applies of disjoint recipes in one checkout: both exit 0");
}

/// Every invalid fixture, planned against a live endpoint: a diagnostic, exit 1, and no API call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_fixture_gives_a_diagnostic_and_makes_no_api_call() {
    let e = env().await;
    let dir = root().join("crates/recipe-loader/tests/fixtures/invalid");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    entries.sort();
    let mut bad = Vec::new();
    for fixture in &entries {
        let path = fixture.to_string_lossy().into_owned();
        let (code, _, stderr) = e.run(&["plan", &path]).await;
        if code != 1 || !stderr.contains("recipe::") {
            bad.push(format!("{path}: exit {code}: {stderr}"));
        }
    }
    let calls = e.sim.requests().records.len();
    println!(
        "invalid fixtures: {} planned, {} without a diagnostic, {calls} API calls",
        entries.len(),
        bad.len()
    );
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(calls, 0, "no API call for invalid input");
    let _ = walk;
}
