//! The proof that a target is pluggable: `kiosk`, served by this crate and one registry line,
//! validates with its own located findings, is in the schema, and plans and applies.

use std::path::Path;
use std::sync::Arc;

use recipe_engine::apply::{Applying, prepare};
use recipe_engine::{CancelToken, Events, Registry};
use recipe_loader::{LoadOptions, RecipeSet, Targets};
use recipe_model::{Base, CleanupPreset};
use recipe_state::{LocalStore, StateStore};
use recipe_target_kiosk::{
    FakeCloud, KIOSK, KIOSK_LINUX, Kiosk, KioskProvider, Orientation, SCREEN,
};

const LOBBY: &str = r#"name: lobby
description: the lobby kiosk
target: kiosk
strategy: full
os: linux
version: 1.0.0
base: { image-id: kio-0000abcd }
builder: { region: eu-west-2, instance-type: kiosk.touch }
steps:
  - shell: { run: "echo lobby" }
  - shell: { run: "echo browser" }
tests:
  - shell: { run: "test -e /etc/hostname" }
cleanup: kiosk-linux
image: { name: "lobby-${build_id}" }
distribute: { regions: [eu-west-1] }
screen: { orientation: portrait, home-page: "https://lobby.example/${version}" }
"#;

const LOBBY_FR: &str = r#"name: lobby-fr
description: the lobby kiosk, in French
target: kiosk
strategy: full
os: linux
version: 1.0.0
base: { recipe: lobby }
builder: { region: eu-west-2, instance-type: kiosk.touch }
steps:
  - shell: { run: "echo fr" }
image: { name: "lobby-fr-${build_id}" }
"#;

/// The AWS targets and the kiosk: the one line that registers it.
fn targets() -> Targets {
    let mut specs = recipe_targets::specs();
    specs.push(Arc::new(Kiosk));
    Targets::new(specs)
}

fn load(dir: &Path, files: &[(&str, &str)], targets: Targets) -> RecipeSet {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let options = LoadOptions {
        targets,
        ..Default::default()
    };
    recipe_loader::load(&[dir.to_path_buf()], &options)
}

/// `code at line:column` of each finding.
fn findings(set: &RecipeSet) -> Vec<String> {
    let located = set
        .sorted_diagnostics()
        .into_iter()
        .map(|d| format!("{} at {}:{}", d.code.as_str(), d.span.line, d.span.column));
    located.collect()
}

#[test]
fn a_kiosk_recipe_validates_with_its_own_located_findings() {
    let dir = tempfile::tempdir().unwrap();
    let bad = LOBBY
        .replace("kio-0000abcd", "ami-0123456789abcdef0")
        .replace("kiosk.touch", "t3.small")
        .replace("lobby-${build_id}", "Lobby Kiosk")
        .replace(
            "distribute:",
            "bundle: { name: lobby, compute: STANDARD, root-volume-gib: 80, user-volume-gib: 10 }\ndistribute:",
        );
    let set = load(dir.path(), &[("lobby.yaml", &bad)], targets());
    assert_eq!(
        findings(&set),
        [
            "recipe::kiosk::base at 7:19",
            "recipe::kiosk::screen at 8:46",
            "recipe::name::image at 15:16",
            "recipe::section::wrong-target at 16:9",
        ]
    );
    let d = set.sorted_diagnostics();
    assert_eq!(d[1].help, "write a kiosk machine, e.g. `kiosk.touch`");
    assert!(
        d[2].help.contains("lowercase letters, digits and -"),
        "{}",
        d[2].help
    );
    assert_eq!(d[3].help, "remove it: it is for `workspaces` recipes");
    assert!(
        d.iter()
            .all(|d| d.path() == Some(&dir.path().join("lobby.yaml")))
    );
}

#[test]
fn a_good_kiosk_recipe_has_no_findings_and_without_its_crate_it_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(
        dir.path(),
        &[("lobby.yaml", LOBBY), ("lobby-fr.yaml", LOBBY_FR)],
        targets(),
    );
    assert_eq!(findings(&set), Vec::<String>::new());

    let without = load(dir.path(), &[], recipe_targets::targets());
    let unknown = without.sorted_diagnostics();
    assert_eq!(
        findings(&without),
        ["recipe::parse::unknown-value at 3:9"; 2]
    );
    assert_eq!(unknown[0].message, "unknown target `kiosk` at `target`");
    assert!(
        unknown[0].help.ends_with("ec2-ami, workspaces, appstream"),
        "{}",
        unknown[0].help
    );
}

#[test]
fn the_schema_lists_the_kiosk_and_keeps_other_targets_sections_off_it() {
    let schema = targets().schema();
    let names = schema["definitions"]["Target"]["oneOf"].as_array().unwrap();
    let kiosk = names
        .iter()
        .find(|t| t["const"] == "kiosk")
        .expect("kiosk in the schema");
    assert!(
        kiosk["description"]
            .as_str()
            .unwrap()
            .starts_with("A kiosk disk image")
    );
    // `bundle` is allowed only where the target is `workspaces`: the kiosk is not exempt.
    let rules = schema["allOf"].as_array().unwrap();
    let bundle = rules
        .iter()
        .find(|r| r["then"]["properties"]["bundle"] == false)
        .unwrap();
    assert_eq!(
        bundle["if"]["properties"]["target"]["not"]["const"],
        "workspaces"
    );
    let without = recipe_targets::targets().schema();
    let aws = without["definitions"]["Target"]["oneOf"]
        .as_array()
        .unwrap();
    assert!(aws.iter().all(|t| t["const"] != "kiosk"));
}

/// The kiosk's own additions to the language: its `screen` section reads typed, with spans and
/// `${variables}`; a mistake in it is located like any other; other targets may not have it; it,
/// the `kiosk-catalog` base and the `kiosk-linux` preset are in the schema. None is in the core.
#[test]
fn the_kiosks_own_section_base_and_preset_read_check_and_reach_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path(), &[("lobby.yaml", LOBBY)], targets());
    assert_eq!(findings(&set), Vec::<String>::new());
    let lobby = &set.recipes[0].recipe;
    let screen = SCREEN.of(&lobby.sections).expect("the screen section");
    assert_eq!(screen.value.orientation.value, Orientation::Portrait);
    let home = screen.value.home_page.as_ref().unwrap();
    assert_eq!(home.value, "https://lobby.example/1.0.0");
    assert_eq!((screen.span.line, home.span.line), (17, 17));
    assert_eq!(
        lobby.cleanup.as_ref().unwrap().value,
        CleanupPreset::of(&KIOSK_LINUX)
    );

    let typo = LOBBY.replace("orientation: portrait", "orientaton: portrait");
    let set = load(dir.path(), &[("lobby.yaml", &typo)], targets());
    assert_eq!(findings(&set), ["recipe::parse::unknown-field at 17:11"]);
    assert!(
        set.sorted_diagnostics()[0]
            .help
            .contains("did you mean `orientation`?")
    );

    let catalog = LOBBY.replace("image-id: kio-0000abcd", "kiosk-catalog: lobby-v3");
    let set = load(dir.path(), &[("lobby.yaml", &catalog)], targets());
    assert_eq!(findings(&set), Vec::<String>::new());
    let base = &set.recipes[0].recipe.base.value;
    assert!(
        matches!(base, Base::Declared(k, n) if k.as_str() == "kiosk-catalog" && n.value == "lobby-v3")
    );

    let ami = "name: web\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: 1.0.0\n\
               base: { ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 }\n\
               builder: { instance-type: t3.small }\ncleanup: linux\nimage: { name: web }\n\
               screen: { orientation: landscape }\n";
    let set = load(dir.path(), &[("lobby.yaml", ami)], targets());
    let d = set.sorted_diagnostics();
    assert_eq!(
        d.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(),
        ["recipe::section::wrong-target"]
    );
    assert_eq!(d[0].help, "remove it: it is for `kiosk` recipes");

    // Where the kiosk is not served (its section was declared in this process), `screen` is unknown.
    let set = load(
        dir.path(),
        &[("lobby.yaml", ami)],
        recipe_targets::targets(),
    );
    let d = set.sorted_diagnostics();
    assert_eq!(
        d.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(),
        ["recipe::parse::unknown-field"]
    );
    let schema = targets().schema();
    assert_eq!(
        schema["properties"]["screen"]["description"],
        "The kiosk's screen (target kiosk)."
    );
    let rules = schema["allOf"].as_array().unwrap();
    let only = rules
        .iter()
        .find(|r| r["then"]["properties"]["screen"] == false)
        .unwrap();
    assert_eq!(only["if"]["properties"]["target"]["not"]["const"], "kiosk");
    let text = schema.to_string();
    assert!(text.contains("\"kiosk-catalog\"") && text.contains("\"kiosk-linux\""));
}

async fn apply(set: &RecipeSet, store: &LocalStore, registry: &Registry) -> bool {
    let plan = recipe_plan::plan(set, store, registry, &recipe_testkit::plan_options())
        .await
        .unwrap();
    assert!(registry.unserved(&plan).is_empty());
    let opts = recipe_testkit::apply_options();
    let prepared = prepare(store, plan, false, opts.lock_timeout, &|_, _| {})
        .await
        .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancelToken::new();
    let applying = Applying {
        store,
        registry,
        set,
        opts: &opts,
        events: Events::new(tx),
        cancel: &cancel,
    };
    prepared.apply(&applying).await.unwrap().report.ok()
}

#[tokio::test]
async fn a_kiosk_set_plans_and_applies_against_its_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(
        dir.path(),
        &[("lobby.yaml", LOBBY), ("lobby-fr.yaml", LOBBY_FR)],
        targets(),
    );
    assert!(!set.has_errors(), "{:?}", findings(&set));
    let store = LocalStore::new(dir.path().join("state"));
    let cloud = Arc::new(FakeCloud::default());
    let mut registry = Registry::new();
    registry.register(Arc::new(KioskProvider::new(cloud.clone())));

    let plan = recipe_plan::plan(&set, &store, &registry, &recipe_testkit::plan_options())
        .await
        .unwrap();
    let lobby: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| a.recipe == "lobby")
        .map(|a| a.action.name())
        .collect();
    for kind in [
        "resolve-base",
        "launch-builder",
        "run-steps",
        "run-tests",
        "cleanup",
        "capture",
        "terminate-builder",
        "copy",
    ] {
        assert!(lobby.contains(&kind), "{kind} not in {lobby:?}");
    }

    assert!(apply(&set, &store, &registry).await);
    // Each recipe's image in its build region, the parent's copied too; no builder left running.
    let images = cloud.images();
    let of = |recipe: &str| {
        images
            .values()
            .filter(|i| i.recipe == recipe)
            .collect::<Vec<_>>()
    };
    let regions = |recipe: &str| {
        of(recipe)
            .iter()
            .map(|i| i.region.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(regions("lobby"), ["eu-west-2", "eu-west-1"]);
    assert_eq!(regions("lobby-fr"), ["eu-west-2"]);
    assert_eq!(cloud.running(), []);
    // The child's builder booted the parent's image, and ran the steps, tests and clean-up.
    let parent_id = images
        .iter()
        .find(|(_, i)| i.recipe == "lobby" && i.region == "eu-west-2")
        .unwrap()
        .0;
    assert_eq!(of("lobby-fr")[0].ran[0], format!("boot {parent_id}"));
    assert_eq!(
        of("lobby")[0].ran,
        [
            "boot kio-0000abcd",
            "screen Portrait https://lobby.example/1.0.0",
            "step 0",
            "step 1",
            "run-tests",
            "cleanup"
        ]
    );
    // State records the kiosk builds; a second plan has nothing to do.
    let state = store.load("lobby").await.unwrap().unwrap().state;
    let v = state.current().unwrap();
    assert_eq!(v.target, KIOSK);
    assert_eq!(
        v.images["eu-west-1"].image_id,
        *images
            .iter()
            .find(|(_, i)| i.recipe == "lobby" && i.region == "eu-west-1")
            .unwrap()
            .0
    );
    let again = recipe_plan::plan(&set, &store, &registry, &recipe_testkit::plan_options())
        .await
        .unwrap();
    assert!(!again.has_changes());
}
