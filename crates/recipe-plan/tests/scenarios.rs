//! Plan scenarios: first build, nothing changed, base image changed, script changed, region added,
//! share removed, keep lowered, parent rebuilt, drift repaired, deprecation due. Each plans against
//! state produced by applying the previous plan (a simulated engine), with a fake observer, and
//! snapshots the human plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use recipe_plan::{
    ActionKind, Applied, Change, CloudInfo, Estimates, Observations, ObservedImage, Outputs, Plan,
    PlanOptions, RecipeOutputs, Stored,
};
use recipe_state::{RecipeState, Revision};

const BASELINE: &str = r#"name: linux-baseline
description: hardened baseline
target: ec2-ami
strategy: full
os: linux
version: 1.0.0
base: { ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 }
builder: { region: eu-west-2, instance-type: t3.small }
steps:
  - update-os: {}
  - packages: { install: [amazon-cloudwatch-agent, aide] }
cleanup: linux
image: { name: "linux-baseline-${version}-${timestamp}" }
distribute: { regions: [eu-west-1] }
retain: { keep: 3 }
"#;

const WEB: &str = r#"name: web
description: web tier
target: ec2-ami
strategy: thin
os: linux
version: 2.0.0
base: { recipe: linux-baseline }
builder: { region: eu-west-2, instance-type: t3.small }
steps:
  - packages: { install: [nginx] }
  - script: { path: scripts/install.sh }
  - reboot: {}
  - shell: { run: "systemctl enable nginx" }
  - shell: { name: fetch-config, run: "aws s3 cp s3://cfg/web.conf /etc/nginx/conf.d/", stage: launch }
tests:
  - shell: { run: "nginx -t" }
cleanup: linux
image: { name: "web-${version}-${timestamp}" }
distribute:
  regions: [eu-west-1, us-east-1]
  share: { accounts: ["111122223333", "444455556666"] }
retain: { keep: 3, deprecate-after: 90d }
"#;

struct World {
    dir: tempfile::TempDir,
    state: BTreeMap<String, Stored>,
    obs: Observations,
    now: jiff::Timestamp,
    counter: usize,
    /// Build ids of applies that did not finish (as the apply's journals say).
    unfinished: BTreeSet<String>,
    /// The default build region (the standard chain's).
    region: String,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "linux-baseline.yaml", BASELINE);
        write(dir.path(), "web.yaml", WEB);
        write(
            dir.path(),
            "scripts/install.sh",
            "#!/bin/bash\ninstall -d /srv/www\n",
        );
        let mut obs = Observations::default();
        obs.bases
            .insert("linux-baseline".into(), "ami-0aaaaaaaaaaaaaaa1".into());
        World {
            dir,
            state: BTreeMap::new(),
            obs,
            now: "2026-03-01T12:00:00Z".parse().unwrap(),
            counter: 0,
            unfinished: BTreeSet::new(),
            region: "us-east-1".into(),
        }
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(path, text.replace(from, to)).unwrap();
    }

    fn plan_with(&self, target: Option<&str>) -> Plan {
        let set = recipe_loader::load(
            &[self.dir.path().to_path_buf()],
            &recipe_targets::load_options(),
        );
        assert!(
            !set.has_errors(),
            "{:?}",
            set.diagnostics
                .iter()
                .map(|d| &d.message)
                .collect::<Vec<_>>()
        );
        let opts = PlanOptions {
            estimates: Estimates::default(),
            targets: target.map(str::to_string).into_iter().collect(),
            unfinished: self.unfinished.clone(),
            now: self.now,
            cloud: CloudInfo {
                account: None,
                region: self.region.clone(),
                region_source: "the test".into(),
                ..Default::default()
            },
        };
        recipe_plan::compute(&set, &self.state, &self.obs, &opts).unwrap()
    }

    fn plan(&self) -> Plan {
        self.plan_with(None)
    }

    /// What the engine will do, reduced to its effect on state: every action succeeds, each build
    /// and copy makes a new image id, and state is recorded by `recipe_plan::record`.
    fn apply(&mut self, plan: &Plan) {
        let mut outputs = Outputs::default();
        for a in &plan.actions {
            let region = match &a.action {
                ActionKind::Capture { .. } => plan
                    .recipes
                    .iter()
                    .find(|r| r.recipe == a.recipe)
                    .and_then(|r| r.build.as_ref())
                    .map(|b| b.home_region.clone()),
                ActionKind::Copy { region } => Some(region.clone()),
                _ => None,
            };
            if let Some(region) = region {
                self.counter += 1;
                let id = format!("ami-{:017x}", self.counter);
                outputs.add(&a.recipe, &RecipeOutputs::image(region, id));
            }
        }
        let succeeded: BTreeSet<usize> = plan.actions.iter().map(|a| a.id).collect();
        let before: BTreeMap<String, RecipeState> = self
            .state
            .iter()
            .map(|(k, v)| (k.clone(), v.state.clone()))
            .collect();
        let applied = Applied {
            succeeded: &succeeded,
            outputs: &outputs,
            now: self.now,
        };
        for state in recipe_plan::record(plan, &applied, &before) {
            // Saving one recipe as its build finishes gives what saving all at the end gives.
            let alone = recipe_plan::record_recipe(plan, &applied, &before, &state.recipe);
            assert_eq!(alone.as_ref(), Some(&state), "{}", state.recipe);
            let n: u64 = self
                .state
                .get(&state.recipe)
                .map_or(0, |s| s.revision.0.parse().unwrap());
            let name = state.recipe.clone();
            self.state.insert(
                name,
                Stored {
                    revision: Revision((n + 1).to_string()),
                    state,
                },
            );
        }
        // What the cloud now holds, for scenarios that refresh.
        self.obs.images.clear();
        for (name, st) in &self.state {
            let imgs = st
                .state
                .versions
                .iter()
                .filter(|v| v.status.is_live())
                .flat_map(|v| {
                    v.images.iter().map(|(region, img)| ObservedImage {
                        build_id: v.build_id.clone(),
                        region: region.clone(),
                        image_id: img.image_id.clone(),
                        shares: v
                            .shares
                            .iter()
                            .filter(|s| s.region == *region)
                            .map(|s| s.principal.clone())
                            .collect(),
                        shares_observed: true,
                        version: v.version.clone(),
                        fingerprint: v.fingerprint.clone(),
                        created_at: Some(if *region == v.home_region {
                            v.created_at
                        } else {
                            v.created_at
                                .checked_add(jiff::SignedDuration::from_secs(60))
                                .unwrap()
                        }),
                    })
                })
                .collect();
            self.obs.images.insert(name.clone(), imgs);
        }
    }

    fn state_of(&self, recipe: &str) -> &RecipeState {
        &self.state[recipe].state
    }

    fn later(&mut self, days: i64) {
        self.now = self
            .now
            .checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap();
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let p: PathBuf = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn snap(name: &str, plan: &Plan) {
    insta::assert_snapshot!(name, recipe_plan::render::human(plan));
}

fn built(world: &mut World) {
    let plan = world.plan();
    world.apply(&plan);
    assert!(
        !world.plan().has_changes(),
        "a fresh apply leaves nothing to do"
    );
}

#[test]
fn first_build() {
    let w = World::new();
    let plan = w.plan();
    assert_eq!(plan.summary(), (2, 0, 0));
    // The child's base resolution waits for the parent's image.
    let web_resolve = plan
        .actions
        .iter()
        .find(|a| a.recipe == "web" && a.action == ActionKind::ResolveBase)
        .unwrap();
    let dep = &plan.actions[web_resolve.depends_on[0]];
    assert_eq!(dep.recipe, "linux-baseline");
    snap("first_build", &plan);
    insta::assert_snapshot!("first_build_markdown", recipe_plan::render::markdown(&plan));
    insta::assert_snapshot!(
        "first_build_dot",
        recipe_plan::graph::to_dot(&plan.actions, &plan.critical_path)
    );
    insta::assert_snapshot!(
        "first_build_mermaid",
        recipe_plan::graph::to_mermaid(&plan.actions)
    );
}

#[test]
fn nothing_changed() {
    let mut w = World::new();
    built(&mut w);
    let plan = w.plan();
    assert_eq!(plan.summary(), (0, 0, 2));
    snap("nothing_changed", &plan);
}

#[test]
fn base_image_changed() {
    let mut w = World::new();
    built(&mut w);
    w.obs
        .bases
        .insert("linux-baseline".into(), "ami-0bbbbbbbbbbbbbbb2".into());
    let plan = w.plan();
    assert_eq!(
        plan.summary(),
        (2, 0, 0),
        "the baseline and its child rebuild"
    );
    snap("base_image_changed", &plan);
}

#[test]
fn a_runner_in_another_region_says_the_build_region_changed() {
    let mut w = World::new();
    for file in ["linux-baseline.yaml", "web.yaml"] {
        w.edit(file, "builder: { region: eu-west-2, ", "builder: { ");
    }
    built(&mut w);
    // The base parameter names another image in the runner's region.
    w.region = "eu-central-1".into();
    w.obs
        .bases
        .insert("linux-baseline".into(), "ami-0ccccccccccccccc3".into());
    let plan = w.plan();
    let baseline = plan.recipes.iter().find(|r| r.recipe == "linux-baseline");
    let why = &baseline.unwrap().build.as_ref().unwrap().reasons;
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].starts_with("the build region changed: us-east-1 → eu-central-1 (the base is ami-0ccccccccccccccc3 there; it was ami-0aaaaaaaaaaaaaaa1 in us-east-1)"),
        "{why:?}"
    );
}

#[test]
fn script_content_changed() {
    let mut w = World::new();
    built(&mut w);
    w.edit(
        "scripts/install.sh",
        "install -d /srv/www",
        "install -d -m 0755 /srv/www",
    );
    let plan = w.plan();
    assert_eq!(plan.summary(), (1, 0, 1));
    assert_eq!(
        plan.recipes[1].build.as_ref().unwrap().reasons,
        ["file `scripts/install.sh` changed"]
    );
    snap("script_content_changed", &plan);
}

#[test]
fn region_added_copies_without_rebuild() {
    let mut w = World::new();
    built(&mut w);
    w.edit(
        "web.yaml",
        "regions: [eu-west-1, us-east-1]",
        "regions: [eu-west-1, us-east-1, ap-northeast-1]",
    );
    let plan = w.plan();
    assert_eq!(plan.summary(), (0, 1, 1));
    let kinds: Vec<&str> = plan.actions.iter().map(|a| a.action.name()).collect();
    assert_eq!(
        kinds,
        ["copy", "share"],
        "one copy, then one share for both accounts"
    );
    let ActionKind::Share {
        principals, region, ..
    } = &plan.actions[1].action
    else {
        unreachable!()
    };
    assert_eq!((principals.len(), region.as_str()), (2, "ap-northeast-1"));
    snap("region_added", &plan);
}

#[test]
fn region_removed_removes_the_copy() {
    let mut w = World::new();
    built(&mut w);
    w.edit(
        "web.yaml",
        "regions: [eu-west-1, us-east-1]",
        "regions: [eu-west-1]",
    );
    let plan = w.plan();
    let kinds: Vec<&str> = plan.actions.iter().map(|a| a.action.name()).collect();
    assert_eq!(kinds, ["remove-copy"]);
    snap("region_removed", &plan);
}

#[test]
fn share_removed_is_revoked() {
    let mut w = World::new();
    built(&mut w);
    w.edit(
        "web.yaml",
        r#"accounts: ["111122223333", "444455556666"]"#,
        r#"accounts: ["111122223333"]"#,
    );
    let plan = w.plan();
    assert_eq!(
        plan.actions.len(),
        3,
        "revoked in each of the three regions"
    );
    assert!(plan.actions.iter().all(|a| matches!(&a.action, ActionKind::Unshare { principals, .. } if principals == &["444455556666"])));
    snap("share_removed", &plan);
}

#[test]
fn keep_lowered_retires_the_oldest_but_never_one_in_use() {
    let mut w = World::new();
    built(&mut w);
    for v in ["2.0.1", "2.0.2"] {
        w.later(1);
        let from = if v == "2.0.1" {
            "version: 2.0.0"
        } else {
            "version: 2.0.1"
        };
        w.edit("web.yaml", from, &format!("version: {v}"));
        built(&mut w);
    }
    assert_eq!(
        w.state_of("web")
            .versions
            .iter()
            .filter(|v| v.status.is_live())
            .count(),
        3
    );
    // The oldest is still used by a launch template.
    let oldest = w.state_of("web").versions[0].images["eu-west-2"]
        .image_id
        .clone();
    w.obs.in_use.insert(oldest);
    w.edit(
        "web.yaml",
        "retain: { keep: 3, deprecate-after: 90d }",
        "retain: { keep: 1, deprecate-after: 90d }",
    );
    let plan = w.plan();
    let retired: Vec<&str> = plan
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            ActionKind::Retire { version, .. } => Some(version.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(retired, ["2.0.1"], "2.0.0 is in use and 2.0.2 is current");
    snap("keep_lowered", &plan);
}

#[test]
fn parent_rebuilt_children_follow() {
    let mut w = World::new();
    built(&mut w);
    w.edit(
        "linux-baseline.yaml",
        "install: [amazon-cloudwatch-agent, aide]",
        "install: [amazon-cloudwatch-agent, aide, audit]",
    );
    let plan = w.plan();
    assert_eq!(plan.summary(), (2, 0, 0));
    assert_eq!(
        plan.recipes[1].build.as_ref().unwrap().reasons,
        ["parent recipe `linux-baseline` is rebuilt"]
    );
    snap("parent_rebuilt", &plan);
    // Targeting the child plans its parent too; targeting the parent leaves the child out.
    assert_eq!(w.plan_with(Some("web")).recipes.len(), 2);
    assert_eq!(w.plan_with(Some("linux-baseline")).recipes.len(), 1);
}

#[test]
fn drift_is_repaired() {
    let mut w = World::new();
    built(&mut w);
    w.obs.refreshed.insert("web".into());
    // Someone deregistered the us-east-1 copy by hand.
    w.obs
        .images
        .get_mut("web")
        .unwrap()
        .retain(|i| i.region != "us-east-1");
    let plan = w.plan();
    assert_eq!(plan.summary(), (0, 1, 1));
    // The new copy is shared like the one it replaces.
    assert!(
        plan.actions
            .iter()
            .any(|a| a.action.name() == "share" && a.depends_on == vec![0]),
        "{:?}",
        plan.actions
    );
    assert!(
        plan.actions[0].reason.starts_with("repair"),
        "{}",
        plan.actions[0].reason
    );
    snap("drift_repaired", &plan);
}

/// A plan names what changed (the version with old and new, the step), and warns when a rebuild
/// keeps the version already built.
#[test]
fn rebuild_reasons_name_the_change_and_a_kept_version_is_warned_of() {
    let mut w = World::new();
    built(&mut w);
    w.edit("web.yaml", "install: [nginx]", "install: [nginx, git]");
    w.later(1);
    let plan = w.plan();
    let web = plan.recipes.iter().find(|r| r.recipe == "web").unwrap();
    let why = &web.build.as_ref().unwrap().reasons;
    assert_eq!(
        why,
        &["step `packages nginx` changed to `packages nginx git`"],
        "{why:?}"
    );
    assert!(
        web.notes
            .iter()
            .any(|n| n.starts_with("warning: version 2.0.0 is built again")),
        "{:?}",
        web.notes
    );
    w.edit("web.yaml", "version: 2.0.0", "version: 2.1.0");
    let plan = w.plan();
    let web = plan.recipes.iter().find(|r| r.recipe == "web").unwrap();
    let why = &web.build.as_ref().unwrap().reasons;
    assert!(
        why.contains(&"version changed (2.0.0 → 2.1.0)".to_string()),
        "{why:?}"
    );
    assert!(
        !web.notes.iter().any(|n| n.starts_with("warning:")),
        "{:?}",
        web.notes
    );
}

#[test]
fn changed_tags_retag_without_a_rebuild() {
    let mut w = World::new();
    w.edit(
        "web.yaml",
        r#"image: { name: "web-${version}-${timestamp}" }"#,
        r#"image: { name: "web-${version}-${timestamp}", tags: { Stage: test, Team: web } }"#,
    );
    built(&mut w);
    assert!(!w.plan().has_changes());
    w.edit(
        "web.yaml",
        "tags: { Stage: test, Team: web }",
        "tags: { Stage: prod, Owner: platform }",
    );
    let plan = w.plan();
    assert_eq!(plan.summary(), (0, 1, 1), "an update, not a build");
    let [retag] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(
        retag.reason,
        r#"image.tags changed (+Owner="platform", ~Stage: "test" → "prod", -Team (was "web"))"#
    );
    assert_eq!(
        retag.action,
        ActionKind::Retag {
            tags: [("Owner", "platform"), ("Stage", "prod")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            remove: vec!["Team".into()],
            regions: ["eu-west-2", "eu-west-1", "us-east-1"]
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    );
    w.apply(&plan);
    assert!(!w.plan().has_changes(), "the new tags are recorded");
    // A region added in the same plan: the retag waits for the copy.
    w.edit("web.yaml", "Owner: platform", "Owner: web-team");
    w.edit(
        "web.yaml",
        "regions: [eu-west-1, us-east-1]",
        "regions: [eu-west-1, us-east-1, ap-south-1]",
    );
    let plan = w.plan();
    let copy = plan
        .actions
        .iter()
        .find(|a| a.action.name() == "copy")
        .unwrap();
    let retag = plan
        .actions
        .iter()
        .find(|a| a.action.name() == "retag")
        .unwrap();
    assert_eq!(retag.depends_on, vec![copy.id]);
}

#[test]
fn a_version_recorded_without_tags_is_tagged_once() {
    let mut w = World::new();
    w.edit(
        "web.yaml",
        r#"image: { name: "web-${version}-${timestamp}" }"#,
        r#"image: { name: "web-${version}-${timestamp}", tags: { Stage: test } }"#,
    );
    built(&mut w);
    // State written before tags were kept.
    for v in &mut w.state.get_mut("web").unwrap().state.versions {
        v.image_tags = None;
    }
    let plan = w.plan();
    let [retag] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(retag.action.name(), "retag");
    assert!(retag.reason.contains("not recorded"), "{}", retag.reason);
    w.apply(&plan);
    assert!(!w.plan().has_changes());
}

#[test]
fn a_share_removed_outside_recipe_is_granted_again() {
    let mut w = World::new();
    built(&mut w);
    w.obs.refreshed.insert("web".into());
    // Someone removed an account's launch permission on the eu-west-1 copy by hand.
    for img in w.obs.images.get_mut("web").unwrap() {
        if img.region == "eu-west-1" {
            img.shares.remove("111122223333");
        }
    }
    let plan = w.plan();
    let shares: Vec<(&str, &str)> = plan
        .actions
        .iter()
        .map(|a| (a.action.name(), a.reason.as_str()))
        .collect();
    assert_eq!(
        shares,
        vec![(
            "share",
            "repair: the share with 111122223333 was removed outside recipe"
        )]
    );
    // Unknown (not read) launch permissions are not taken for removed ones.
    for img in w.obs.images.get_mut("web").unwrap() {
        img.shares_observed = false;
    }
    assert!(!w.plan().has_changes());
}

#[test]
fn deprecation_is_due_after_its_age() {
    let mut w = World::new();
    built(&mut w);
    w.later(89);
    assert!(!w.plan().has_changes());
    w.later(2);
    let plan = w.plan();
    assert!(matches!(plan.actions[..], [ref a] if a.action.name() == "deprecate"));
    snap("deprecation_due", &plan);
}

#[test]
fn a_saved_plan_goes_stale_when_state_or_recipes_move() {
    let mut w = World::new();
    let plan = w.plan();
    let fresh = w.plan();
    plan.check_fresh(&fresh).expect("nothing moved");
    w.apply(&fresh);
    let err = plan.check_fresh(&w.plan()).unwrap_err();
    assert!(
        err.to_string()
            .contains("state of `linux-baseline` changed"),
        "{err}"
    );
    let plan = w.plan();
    w.edit("scripts/install.sh", "/srv/www", "/srv/web");
    let err = plan.check_fresh(&w.plan()).unwrap_err();
    assert!(
        err.to_string()
            .contains("recipe `web` or a file it uses changed"),
        "{err}"
    );
    // A plan round-trips through JSON unchanged.
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
}

#[test]
fn critical_path_follows_the_longest_chain() {
    let w = World::new();
    let plan = w.plan();
    let cp = &plan.critical_path;
    // The chain runs through the baseline's build into the child's and ends at a copy.
    let names: Vec<&str> = cp
        .actions
        .iter()
        .map(|&i| plan.actions[i].action.name())
        .collect();
    assert_eq!(names.first(), Some(&"resolve-base"));
    assert!(cp.actions.iter().any(|&i| plan.actions[i].recipe == "web"));
    let sum: u64 = cp
        .actions
        .iter()
        .map(|&i| plan.actions[i].estimate_secs)
        .sum();
    assert_eq!(sum, cp.total_secs);
    // No chain is longer.
    for a in &plan.actions {
        assert!(chain_len(&plan, a.id) <= cp.total_secs);
    }
    let _ = Change::None;
}

fn chain_len(plan: &Plan, id: usize) -> u64 {
    let a = &plan.actions[id];
    a.estimate_secs
        + a.depends_on
            .iter()
            .map(|&d| chain_len(plan, d))
            .max()
            .unwrap_or(0)
}

#[test]
fn a_parent_rebuilt_for_any_reason_takes_its_children_along() {
    let mut w = World::new();
    built(&mut w);
    // The baseline's image was deregistered by hand: it rebuilds with the same fingerprint.
    w.obs.refreshed.insert("linux-baseline".into());
    w.obs
        .images
        .get_mut("linux-baseline")
        .unwrap()
        .retain(|i| i.region != "eu-west-2");
    let plan = w.plan();
    assert_eq!(plan.summary(), (2, 0, 0));
    assert!(
        plan.recipes[0].build.as_ref().unwrap().reasons[0].contains("was deleted outside recipe")
    );
    assert_eq!(
        plan.recipes[1].build.as_ref().unwrap().reasons,
        ["parent recipe `linux-baseline` is rebuilt"]
    );
}

#[test]
fn a_parent_rebuilt_on_its_own_earlier_rebuilds_the_child_next_time() {
    let mut w = World::new();
    built(&mut w);
    w.edit(
        "linux-baseline.yaml",
        "install: [amazon-cloudwatch-agent, aide]",
        "install: [amazon-cloudwatch-agent, aide, audit]",
    );
    w.later(1);
    let only_parent = w.plan_with(Some("linux-baseline"));
    w.apply(&only_parent);
    let plan = w.plan();
    assert_eq!(plan.summary(), (1, 0, 1));
    let why = &plan.recipes[1].build.as_ref().unwrap().reasons;
    assert_eq!(why.len(), 1);
    assert!(
        why[0].starts_with("parent `linux-baseline` has a newer version (b20260302120000-"),
        "{why:?}"
    );
}

#[test]
fn state_is_rebuilt_from_what_the_cloud_holds() {
    let mut w = World::new();
    built(&mut w);
    let before = w.state_of("web").clone();
    let rebuilt = recipe_plan::rebuild_state("web", recipe_targets::EC2_AMI, &w.obs.images["web"]);
    assert_eq!(rebuilt.versions.len(), 1);
    let (a, b) = (&before.versions[0], &rebuilt.versions[0]);
    assert_eq!(
        (&a.build_id, &a.version, &a.fingerprint, &a.home_region),
        (&b.build_id, &b.version, &b.fingerprint, &b.home_region)
    );
    assert_eq!(a.images, b.images);
    assert_eq!(a.shares, b.shares);
    // A plan against the rebuilt state needs no build: the fingerprint matches.
    w.state.get_mut("web").unwrap().state = rebuilt;
    assert_ne!(w.plan().recipes[1].change, recipe_plan::Change::Build);
}

fn try_plan(world: &World) -> Result<Plan, recipe_plan::PlanError> {
    let set = recipe_loader::load(
        &[world.dir.path().to_path_buf()],
        &recipe_targets::load_options(),
    );
    let opts = PlanOptions {
        estimates: Estimates::default(),
        targets: vec![],
        unfinished: Default::default(),
        now: world.now,
        cloud: CloudInfo {
            account: None,
            region: "us-east-1".into(),
            region_source: "the test".into(),
            ..Default::default()
        },
    };
    recipe_plan::compute(&set, &world.state, &world.obs, &opts)
}

#[test]
fn a_child_built_where_its_parent_has_no_image_is_refused_at_plan_time() {
    let w = World::new();
    // The parent copies to eu-west-1 only; the child moves to eu-central-1.
    w.edit(
        "web.yaml",
        "builder: { region: eu-west-2",
        "builder: { region: eu-central-1",
    );
    let err = try_plan(&w).unwrap_err();
    let recipe_plan::PlanError::ParentRegion { diagnostics } = &err else {
        panic!("expected a parent-region error, got {err:?}");
    };
    assert_eq!(diagnostics.len(), 1);
    let d = &diagnostics[0];
    assert!(
        d.message.contains("`web` builds in eu-central-1"),
        "{}",
        d.message
    );
    assert!(d.message.contains("eu-west-2, eu-west-1"), "{}", d.message);
    assert!(
        d.help
            .contains("add eu-central-1 to `linux-baseline`'s distribute.regions")
    );
    // Located at the child's `base`.
    assert!(d.location().contains("web.yaml:7:"), "{}", d.location());
    // Copying the parent there makes the plan valid, and the child's base waits for that copy.
    w.edit(
        "linux-baseline.yaml",
        "regions: [eu-west-1]",
        "regions: [eu-west-1, eu-central-1]",
    );
    let plan = try_plan(&w).unwrap();
    let resolve = plan
        .actions
        .iter()
        .find(|a| a.recipe == "web" && a.action == ActionKind::ResolveBase)
        .unwrap();
    let dep = &plan.actions[resolve.depends_on[0]];
    assert_eq!(dep.recipe, "linux-baseline");
    assert_eq!(
        dep.action,
        ActionKind::Copy {
            region: "eu-central-1".into()
        }
    );
}

/// Record a plan in which only `ok` succeeded, with `outputs`.
fn record_some(w: &World, plan: &Plan, ok: &[usize], outputs: &Outputs) -> Vec<RecipeState> {
    let before = w
        .state
        .iter()
        .map(|(k, v)| (k.clone(), v.state.clone()))
        .collect();
    let succeeded: BTreeSet<usize> = ok.iter().copied().collect();
    let applied = Applied {
        succeeded: &succeeded,
        outputs,
        now: w.now,
    };
    let all = recipe_plan::record(plan, &applied, &before);
    for state in &all {
        let alone = recipe_plan::record_recipe(plan, &applied, &before, &state.recipe);
        assert_eq!(alone.as_ref(), Some(state), "{}", state.recipe);
    }
    all
}

fn ids(plan: &Plan, recipe: &str, pred: impl Fn(&ActionKind) -> bool) -> Vec<usize> {
    plan.actions
        .iter()
        .filter(|a| a.recipe == recipe && pred(&a.action))
        .map(|a| a.id)
        .collect()
}

#[test]
fn recording_a_build_keeps_what_succeeded_and_marks_an_unfinished_build_failed() {
    let w = World::new();
    let plan = w.plan();
    let mut outputs = Outputs::default();
    outputs.add(
        "linux-baseline",
        &RecipeOutputs::base("ami-0resolved000000001"),
    );
    outputs.add(
        "linux-baseline",
        &RecipeOutputs::image("eu-west-2", "ami-home"),
    );
    outputs.add(
        "linux-baseline",
        &RecipeOutputs::snapshots("eu-west-2", vec!["snap-1".into()]),
    );
    // The baseline's build went through, but its copy to eu-west-1 failed; web's build failed
    // before its image was available.
    let copy = ids(&plan, "linux-baseline", |k| {
        matches!(k, ActionKind::Copy { .. })
    });
    let ok: Vec<usize> = plan
        .actions
        .iter()
        .filter(|a| a.recipe == "linux-baseline" && !copy.contains(&a.id))
        .map(|a| a.id)
        .chain(ids(&plan, "web", |k| *k == ActionKind::ResolveBase))
        .collect();
    let saved = record_some(&w, &plan, &ok, &outputs);
    assert_eq!(saved.len(), 2);
    let base = saved[0].current().expect("the baseline is available");
    assert_eq!(base.base_image, "ami-0resolved000000001");
    assert_eq!(base.images.len(), 1, "the failed copy is not recorded");
    assert_eq!(base.images["eu-west-2"].snapshot_ids, vec!["snap-1"]);
    let web = &saved[1];
    assert!(web.current().is_none());
    let v = &web.versions[0];
    assert_eq!(v.status, recipe_state::VersionStatus::Failed);
    assert!(v.images.is_empty() && v.shares.is_empty());
    // The child's parent is the version recorded in this same apply, not the one before it.
    let parent = v.parent.as_ref().expect("a parent");
    assert_eq!(parent.build_id, base.build_id);
}

#[test]
fn recording_an_update_applies_copies_shares_and_retag_to_the_current_version() {
    let mut w = World::new();
    built(&mut w);
    w.edit(
        "web.yaml",
        "regions: [eu-west-1, us-east-1]",
        "regions: [eu-west-1, us-east-1, ap-south-1]",
    );
    let plan = w.plan();
    let mut outputs = Outputs::default();
    outputs.add("web", &RecipeOutputs::image("ap-south-1", "ami-copy"));
    let share_ids = ids(&plan, "web", |k| matches!(k, ActionKind::Share { .. }));
    let copy_ids = ids(&plan, "web", |k| matches!(k, ActionKind::Copy { .. }));
    assert_eq!(share_ids.len(), 1, "one share call for both accounts");
    let shared_in_new = |ok: &[usize]| {
        let saved = record_some(&w, &plan, ok, &outputs);
        let web = saved.iter().find(|s| s.recipe == "web").unwrap();
        let cur = web.current().unwrap().clone();
        assert_eq!(cur.images["ap-south-1"].image_id, "ami-copy");
        assert_eq!(cur.updated_at, w.now);
        cur.shares
            .iter()
            .filter(|s| s.region == "ap-south-1")
            .count()
    };
    assert_eq!(
        shared_in_new(&[copy_ids[0]]),
        0,
        "a share that failed is not recorded"
    );
    assert_eq!(shared_in_new(&[copy_ids[0], share_ids[0]]), 2);
}

#[test]
fn a_saved_plan_of_another_format_or_edited_by_hand_is_refused() {
    let w = World::new();
    let plan = w.plan();
    let text = serde_json::to_string_pretty(&plan).unwrap();
    assert_eq!(recipe_plan::Plan::from_json("p.json", &text).unwrap(), plan);
    let current = format!("\"format\": {}", recipe_plan::PLAN_FORMAT);
    let old = text.replacen(&current, "\"format\": 1", 1);
    let e = recipe_plan::Plan::from_json("p.json", &old).unwrap_err();
    assert!(e.to_string().contains("format 1"), "{e}");
    let edited = text.replacen("\"recipe\": \"linux-baseline\"", "\"recipe\": 7", 1);
    let e = recipe_plan::Plan::from_json("p.json", &edited).unwrap_err();
    assert!(e.to_string().starts_with("p.json:"), "{e}");
    let recipe_plan::PlanFileError::Invalid { line, .. } = e else {
        panic!("expected an invalid plan")
    };
    assert!(line > 1);
}

#[test]
fn a_version_beyond_keep_and_due_for_deprecation_is_retired_only() {
    let mut w = World::new();
    built(&mut w);
    w.later(91);
    // The web recipe is rebuilt with keep 1: its old version is both beyond keep and past 90 days.
    w.edit("web.yaml", "retain: { keep: 3,", "retain: { keep: 1,");
    w.edit("scripts/install.sh", "/srv/www", "/srv/web");
    let plan = w.plan();
    let old = w.state["web"].state.versions[0].build_id.clone();
    let about_old: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| match &a.action {
            ActionKind::Retire { build_id, .. } | ActionKind::Deprecate { build_id } => {
                *build_id == old
            }
            _ => false,
        })
        .map(|a| a.action.name())
        .collect();
    assert_eq!(about_old, ["retire"], "{:?}", plan.actions);
}

#[test]
fn recipes_with_the_same_content_get_their_own_builds() {
    let mut w = World::new();
    // A second baseline that differs only in its name, on the same base image.
    let twin = BASELINE.replace("name: linux-baseline", "name: linux-baseline-twin");
    write(w.dir.path(), "twin.yaml", &twin);
    let base = w.obs.bases["linux-baseline"].clone();
    w.obs.bases.insert("linux-baseline-twin".into(), base);
    let plan = w.plan();
    let build = |name: &str| {
        let r = plan.recipes.iter().find(|r| r.recipe == name).unwrap();
        (
            r.fingerprint.clone(),
            r.build.as_ref().unwrap().build_id.clone(),
        )
    };
    let (fp_a, id_a) = build("linux-baseline");
    let (fp_b, id_b) = build("linux-baseline-twin");
    assert_eq!(fp_a, fp_b, "the same content");
    assert_ne!(
        id_a, id_b,
        "but two builds (client tokens derive from build ids)"
    );
    // Stable: the same recipe, content and time give the same id.
    assert_eq!(w.plan().recipes[0].build, plan.recipes[0].build);
}

#[test]
fn a_saved_plan_that_builds_a_parent_and_its_child_stays_valid() {
    let mut w = World::new();
    let saved = w.plan();
    assert!(saved.recipes.iter().all(|r| r.build.is_some()));
    // A second later the parent's planned build id differs, and so the child's base; nothing moved.
    w.now = w
        .now
        .checked_add(jiff::SignedDuration::from_secs(1))
        .unwrap();
    let fresh = w.plan();
    assert_ne!(
        saved.basis.fingerprints["web"],
        fresh.basis.fingerprints["web"]
    );
    saved.check_fresh(&fresh).expect("still valid");
    // An edit of the child itself still makes it stale.
    w.edit("web.yaml", "nginx -t", "nginx -T");
    let err = saved.check_fresh(&w.plan()).unwrap_err();
    assert!(err.to_string().contains("recipe `web`"), "{err}");
}

#[test]
fn a_removed_region_keeps_a_copy_in_use_and_names_older_copies() {
    let mut w = World::new();
    built(&mut w);
    // A second web version, so that the first is an older live version with its own copies.
    w.edit("scripts/install.sh", "/srv/www", "/srv/web");
    let plan = w.plan();
    w.apply(&plan);
    w.edit(
        "web.yaml",
        "regions: [eu-west-1, us-east-1]",
        "regions: [eu-west-1]",
    );
    let cur = w.state["web"].state.current().unwrap().clone();
    let copy = cur.images["us-east-1"].image_id.clone();
    w.obs.in_use.insert(copy.clone());
    let plan = w.plan();
    assert!(
        plan.actions
            .iter()
            .all(|a| a.action.name() != "remove-copy"),
        "a copy in use is not removed: {:?}",
        plan.actions
    );
    let web = plan.recipes.iter().find(|r| r.recipe == "web").unwrap();
    assert!(
        web.notes
            .iter()
            .any(|n| n.contains(&copy) && n.contains("in use")),
        "{:?}",
        web.notes
    );
    let older = &w.state["web"].state.versions[0];
    assert!(
        web.notes
            .iter()
            .any(|n| n.contains(&older.build_id) && n.contains("keeps its copy in us-east-1")),
        "{:?}",
        web.notes
    );
    // Once released, the removal is planned and counted.
    w.obs.in_use.clear();
    let plan = w.plan();
    assert_eq!(plan.removals(), (1, 0));
    assert!(recipe_plan::render::human(&plan).contains("1 copy to remove"));
}

#[test]
fn a_rollout_target_not_pointing_at_the_current_image_is_rolled_out_again() {
    let mut w = World::new();
    built(&mut w);
    let cur = w.state["linux-baseline"].state.current().unwrap().clone();
    let home = cur.images[&cur.home_region].image_id.clone();
    let target = recipe_plan::RolloutTarget::new(
        recipe_targets::SSM_PARAMETER,
        "/images/linux-baseline/latest",
    );
    let observe = |image: Option<&str>| {
        vec![recipe_plan::ObservedRollout {
            target: target.clone(),
            region: None,
            image: image.map(str::to_string),
        }]
    };
    // Pointing at the current image: nothing to do.
    w.obs
        .rollouts
        .insert("linux-baseline".into(), observe(Some(&home)));
    assert!(!w.plan().has_changes(), "{:?}", w.plan().actions);
    // Pointing elsewhere (a failed rollout, or a change by hand), or missing: rolled out again.
    for (seen, why) in [
        (
            Some("ami-0ther"),
            "points at ami-0ther, not the current image",
        ),
        (None, "does not exist"),
    ] {
        w.obs
            .rollouts
            .insert("linux-baseline".into(), observe(seen));
        let plan = w.plan();
        let rollouts: Vec<&recipe_plan::Action> = plan.actions.iter().collect();
        assert_eq!(rollouts.len(), 1, "{:?}", plan.actions);
        assert_eq!(
            rollouts[0].action,
            ActionKind::Rollout {
                target: target.clone(),
                region: None,
            }
        );
        assert!(rollouts[0].reason.contains(why), "{}", rollouts[0].reason);
    }
}

/// `retain.max-age`: a version older than it is rebuilt though nothing changed, with the age as the
/// reason; younger, nothing is planned.
#[test]
fn a_version_past_its_max_age_is_rebuilt() {
    let mut w = World::new();
    w.edit(
        "linux-baseline.yaml",
        "retain: { keep: 3 }",
        "retain: { keep: 3, max-age: 30d }",
    );
    built(&mut w);
    w.later(29);
    let plan = w.plan();
    assert!(
        !plan.actions.iter().any(|a| a.recipe == "linux-baseline"),
        "not yet due"
    );
    w.later(2);
    let plan = w.plan();
    let capture = plan
        .actions
        .iter()
        .find(|a| a.recipe == "linux-baseline" && a.action.name() == "capture")
        .expect("rebuilt");
    assert!(
        capture
            .reason
            .contains("version 1.0.0 is 31 days old, past `retain.max-age: 30d`"),
        "{}",
        capture.reason
    );
}

/// Rollouts are per region: an SSM parameter is published in every region the image is in (each
/// with its own AMI), after that region's copy; `rollout.regions` narrows them.
#[test]
fn rollouts_are_planned_per_region() {
    let w = World::new();
    w.edit(
        "web.yaml",
        "retain: { keep: 3, deprecate-after: 90d }",
        "retain: { keep: 3, deprecate-after: 90d }\nrollout: { ssm-parameter: /images/web }",
    );
    let regions = |plan: &Plan| -> Vec<Option<String>> {
        plan.actions
            .iter()
            .filter_map(|a| match &a.action {
                ActionKind::Rollout { region, .. } if a.recipe == "web" => Some(region.clone()),
                _ => None,
            })
            .collect()
    };
    let plan = w.plan();
    assert_eq!(
        regions(&plan),
        [None, Some("eu-west-1".into()), Some("us-east-1".into())]
    );
    let copy = plan
        .actions
        .iter()
        .position(|a| {
            a.recipe == "web"
                && a.action
                    == ActionKind::Copy {
                        region: "us-east-1".into(),
                    }
        })
        .unwrap();
    let rollout = plan
        .actions
        .iter()
        .find(|a| matches!(&a.action, ActionKind::Rollout { region: Some(r), .. } if r == "us-east-1"))
        .unwrap();
    assert!(
        rollout.depends_on.contains(&plan.actions[copy].id),
        "after its copy"
    );
    w.edit(
        "web.yaml",
        "rollout: { ssm-parameter: /images/web }",
        "rollout: { ssm-parameter: /images/web, regions: [eu-west-1] }",
    );
    assert_eq!(regions(&w.plan()), [Some("eu-west-1".to_string())]);
}

/// The version-reuse warning counts the live images that will carry the version: two after the
/// first rebuild, three after the second.
#[test]
fn the_version_reuse_warning_counts_the_live_images() {
    let mut w = World::new();
    built(&mut w);
    let warning = |plan: &Plan| {
        let web = plan.recipes.iter().find(|r| r.recipe == "web").unwrap();
        web.notes
            .iter()
            .find(|n| n.contains("built again"))
            .cloned()
            .unwrap_or_default()
    };
    w.edit("scripts/install.sh", "/srv/www", "/srv/web");
    let plan = w.plan();
    assert!(
        warning(&plan).contains("so two live images carry version 2.0.0"),
        "{}",
        warning(&plan)
    );
    let md = recipe_plan::render::markdown(&plan);
    assert!(
        md.contains("> **warning** (`web`): version 2.0.0 is built again"),
        "{md}"
    );
    w.apply(&plan);
    w.edit("scripts/install.sh", "/srv/web", "/srv/site");
    let plan = w.plan();
    assert!(
        warning(&plan).contains("so 3 live images carry version 2.0.0"),
        "{}",
        warning(&plan)
    );
}

/// A copy missing after an interrupted apply is said to be that, not a region added.
#[test]
fn a_copy_an_interrupted_apply_left_undone_is_named_as_such() {
    let mut w = World::new();
    built(&mut w);
    let state = w.state.get_mut("web").unwrap();
    let cur = state.state.versions.last_mut().unwrap();
    cur.images.remove("us-east-1");
    let build = cur.build_id.clone();
    let reason = |w: &World| {
        let plan = w.plan();
        let copy = plan
            .actions
            .iter()
            .find(|a| a.recipe == "web" && a.action.name() == "copy");
        copy.map(|a| a.reason.clone()).unwrap_or_default()
    };
    assert_eq!(reason(&w), "region added to distribute.regions");
    w.unfinished.insert(build);
    assert_eq!(
        reason(&w),
        "the copy to us-east-1 did not finish: its apply was interrupted"
    );
}

/// A saved plan applied a second later is not stale: build ids (and the fingerprints of children
/// that embed their parent's, in the capture and the version file) differ by the clock alone.
#[test]
fn a_saved_plan_is_fresh_a_second_later() {
    let mut w = World::new();
    let plan = w.plan();
    w.now = w
        .now
        .checked_add(jiff::SignedDuration::from_secs(1))
        .unwrap();
    let fresh = w.plan();
    let version_files = |p: &Plan| -> Vec<ActionKind> {
        (p.actions.iter())
            .filter(|a| a.action.name() == "version-file")
            .map(|a| a.action.clone())
            .collect()
    };
    assert_ne!(
        version_files(&plan),
        version_files(&fresh),
        "the child's fingerprint moved"
    );
    plan.check_fresh(&fresh)
        .expect("nothing but the clock moved");
    plan.check_actions(&fresh).expect("the same actions");
}
