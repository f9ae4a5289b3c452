//! Sandbox machines: steps really run in a Debian root filesystem, the image is a real artifact,
//! and an instance launched from it runs its first boot once. Needs bubblewrap, mmdebstrap and zstd
//! (`.ci/run` installs them) and Debian's archive (the root is built once per machine).

use std::path::{Path, PathBuf};

use super::{sandbox, sandbox_world};

const DEBIAN: &str = "/aws/service/debian/release/bookworm/latest/amd64";

/// A Debian recipe of `strategy` with `steps` (YAML list items, indented by two).
fn recipe(name: &str, strategy: &str, steps: &str) -> String {
    format!(
        "name: {name}\ntarget: ec2-ami\nstrategy: {strategy}\nos: linux\nversion: 1.0.0\n\
         base: {{ ssm-parameter: {DEBIAN} }}\n\
         builder: {{ region: eu-west-2, instance-profile: recipe-builder }}\n\
         steps:\n{steps}cleanup: linux\nimage:\n  name: \"{name}-${{version}}\"\n"
    )
}

/// The artifacts the sandbox captured, by image name.
fn artifacts(dir: &Path) -> Vec<(String, PathBuf)> {
    let art = dir.join(".recipe/sandbox/machines/artifacts");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&art).into_iter().flatten().flatten() {
        let p = e.path();
        if p.to_string_lossy().ends_with(".manifest.json") {
            let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let tar = art.join(m["artifact"].as_str().unwrap());
            out.push((m["name"].as_str().unwrap().to_string(), tar));
        }
    }
    out.sort();
    out
}

/// `tar -tv` of an artifact: one line per entry, numeric owners.
fn listing(tar: &Path) -> String {
    let out = std::process::Command::new("tar")
        .args(["--zstd", "--numeric-owner", "-tvf"])
        .arg(tar)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One file of an artifact.
fn read(tar: &Path, path: &str) -> String {
    let out = std::process::Command::new("tar")
        .args(["--zstd", "-xOf"])
        .arg(tar)
        .arg(format!(".{path}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The image's version file names the recipe, its version, a build id, the base it started from
/// and when, and is the last file written before capture (seed 000 step 9).
fn version_file_names(tar: &Path, recipe: &str, version: &str) -> serde_json::Value {
    let text = read(tar, "/etc/recipe-image.json");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["recipe"], recipe, "{text}");
    assert_eq!(v["version"], version, "{text}");
    for key in ["build_id", "fingerprint", "base_image", "built_at"] {
        assert!(
            v[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {text}"
        );
    }
    v
}

/// The machine roots left in the sandbox (builders not cleaned up).
fn machine_roots(dir: &Path) -> Vec<String> {
    let m = dir.join(".recipe/sandbox/machines");
    let mut v: Vec<String> = std::fs::read_dir(m)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("i-"))
        .collect();
    v.sort();
    v
}

const ARGS_SH: &str = "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > /opt/app/args.txt\nprintf '%s\\n' \"$GREETING\" >> /opt/app/args.txt\n";

const HELLO_DEB: &str = "https://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb";
const HELLO_SHA: &str = "2e6e2f1a0007dc43bc91c273fd36e91e40a4f1c2765a03eca68b70a42103878a";

/// Every Linux step kind does in the filesystem what its documentation says, quoting survives
/// rendering (spaces, `$`, quotes, non-ASCII), a reboot splits the batches, and the image is a
/// tarball with a manifest and a digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_really_run_in_a_debian_root_and_the_image_is_an_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("files")).unwrap();
    std::fs::create_dir_all(d.join("scripts")).unwrap();
    let content = "héllo \"wörld\" $HOME `tick` 'single'\n";
    std::fs::write(d.join("files/héllo it's.txt"), content).unwrap();
    std::fs::write(d.join("scripts/args.sh"), ARGS_SH).unwrap();
    let steps = format!(
        r#"  - packages: {{ install: [jq, curl, ca-certificates] }}
  - file:
      src: "files/héllo it's.txt"
      dest: "/opt/app/dir with space/it's $HOME.txt"
      mode: "0640"
      owner: "nobody:nogroup"
  - script:
      path: scripts/args.sh
      args: ["a b", "$x", "it's", 'ünï "q"']
      env: {{ GREETING: "hi 'there' $USER" }}
  - download:
      url: "{HELLO_DEB}"
      sha256: "{HELLO_SHA}"
      dest: "/opt/app/dl dir/hello.deb"
  - reboot: {{}}
  - shell: {{ run: "jq --version > /opt/app/after-reboot" }}
"#
    );
    std::fs::write(d.join("app.yaml"), recipe("deb-app", "full", &steps)).unwrap();
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| sandbox(d, &["apply", "--auto-approve"], &["app.yaml"]));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Setting up jq"),
        "apt really ran:\n{stdout}"
    );
    // Each step's output is headed by the step, as `recipe try` heads it.
    let header = stdout.find("deb-app ── packages").expect(&stdout);
    assert!(header < stdout.find("Setting up jq").unwrap(), "{stdout}");
    let arts = artifacts(d);
    assert_eq!(arts.len(), 1, "{arts:?}");
    let tar = &arts[0].1;
    let list = listing(tar);
    let file_line = list
        .lines()
        .find(|l| l.ends_with("./opt/app/dir with space/it's $HOME.txt"))
        .unwrap_or_else(|| panic!("the file is in the image:\n{list}"));
    assert!(
        file_line.starts_with("-rw-r----- 65534/65534"),
        "mode and owner: {file_line}"
    );
    assert_eq!(read(tar, "/opt/app/dir with space/it's $HOME.txt"), content);
    assert_eq!(
        read(tar, "/opt/app/args.txt"),
        "[a b]\n[$x]\n[it's]\n[ünï \"q\"]\nhi 'there' $USER\n"
    );
    assert!(list.contains("./usr/bin/jq"), "the package is installed");
    assert!(
        list.contains("./opt/app/dl dir/hello.deb"),
        "the download is there"
    );
    assert!(read(tar, "/opt/app/after-reboot").starts_with("jq-"));
    version_file_names(tar, "deb-app", "1.0.0");
    // The manifest lists what ran, the reboot splitting the batches, and the digest.
    let manifest = tar.to_string_lossy().replace(".tar.zst", ".manifest.json");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    let ran: Vec<&str> = (m["commands"].as_array().unwrap().iter())
        .map(|c| c["comment"].as_str().unwrap())
        .collect();
    let at = |what: &str| {
        ran.iter()
            .position(|c| c.contains(what))
            .unwrap_or_else(|| panic!("{what} in {ran:?}"))
    };
    assert!(
        at("packages") < at("reboot") && at("reboot") < at("shell"),
        "{ran:?}"
    );
    assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
    assert!(machine_roots(d).is_empty(), "the builder's root is removed");
    assert!(
        stdout.contains("artifact"),
        "the apply says where the image is:\n{stdout}"
    );
}

/// A wrong checksum fails the step: the apply fails with the step's output, and the builder (its
/// instance and its root) is cleaned up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_checksum_fails_the_apply_and_cleans_up_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wrong = "0".repeat(64);
    let steps = format!(
        "  - packages: {{ install: [curl, ca-certificates] }}\n  - download: {{ url: \"{HELLO_DEB}\", sha256: \"{wrong}\", dest: /opt/hello.deb }}\n"
    );
    std::fs::write(d.join("app.yaml"), recipe("deb-bad", "full", &steps)).unwrap();
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| sandbox(d, &["apply", "--auto-approve"], &["app.yaml"]));
    assert_eq!(code, Some(5), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FAILED"),
        "sha256sum's output is shown:\n{stdout}"
    );
    assert!(artifacts(d).is_empty(), "no image");
    let world = sandbox_world(d);
    let live = world["ec2"]["instances"].as_object().unwrap().values();
    let live: Vec<_> = live
        .filter(|i| i["state"] != "terminated" && i["state"] != "shutting-down")
        .collect();
    assert!(live.is_empty(), "the builder is terminated: {live:?}");
    assert!(machine_roots(d).is_empty(), "and its root removed");
}

/// Wait until `ok` holds for the machine of `instance` (ready, booted as asked).
async fn machine_when(
    sim: &aws_sim::Sim,
    instance: &str,
    ok: impl Fn(&aws_sim::machine::Machine) -> bool,
) -> aws_sim::machine::Machine {
    for _ in 0..1200 {
        let m = sim.world().machines.get(instance).cloned();
        if let Some(m) = m.filter(|m| ok(m) || m.error.is_some()) {
            assert!(m.error.is_none(), "{:?}", m.error);
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the machine of {instance} never got there");
}

/// Thin and zero images: launch-stage steps do not run at bake time; an instance launched from the
/// image runs them at its first boot, exactly once, and not at its second; image-stage effects are
/// in the artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_steps_run_once_at_the_first_boot_of_an_instance_of_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let steps = "  - shell: { run: \"echo baked > /opt/baked\" }\n\
                 \x20 - shell: { stage: launch, run: \"echo \\\"$(hostname)\\\" >> /var/log/first-boot.log\" }\n";
    std::fs::write(d.join("thin.yaml"), recipe("deb-thin", "thin", steps)).unwrap();
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| sandbox(d, &["apply", "--auto-approve"], &["thin.yaml"]));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let arts = artifacts(d);
    let tar = &arts[0].1;
    let list = listing(tar);
    assert!(
        list.contains("./opt/baked"),
        "image-stage effects are in the image"
    );
    assert!(
        !list.contains("first-boot.log"),
        "launch steps did not run at bake time"
    );
    assert!(list.contains("./var/lib/cloud/scripts/per-instance/recipe-first-boot.sh"));

    // Launch from the image, on the sandbox's cloud as the apply left it.
    let sim = aws_sim::Sim::start(aws_sim::Config {
        durations: aws_sim::Durations::instant(),
        state_dir: Some(d.join(".recipe/sandbox/cloud")),
        machines: Some(aws_sim::MachineConfig::under(
            d.join(".recipe/sandbox/machines"),
        )),
        ..Default::default()
    })
    .await
    .unwrap();
    let image = tar
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.zst", "");
    let ec2 = super::ec2_client(sim.url(), "eu-west-2").await;
    let run = ec2
        .run_instances()
        .image_id(&image)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let id = run.instances()[0].instance_id().unwrap().to_string();
    let m = machine_when(&sim, &id, |m| m.ready && m.boots == 1).await;
    let log = std::path::Path::new(&m.root).join("var/log/first-boot.log");
    let first = std::fs::read_to_string(&log).expect("the launch step ran at the first boot");
    assert_eq!(first.lines().count(), 1, "{first}");
    // A second boot (stop, start) does not run it again.
    ec2.stop_instances().instance_ids(&id).send().await.unwrap();
    for _ in 0..200 {
        let w = sim.world();
        if w.ec2.instances[&id].state == "stopped" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ec2.start_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    machine_when(&sim, &id, |m| m.boots == 2).await;
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        first,
        "not again at the second boot"
    );
    sim.stop().await;
}

/// Every regular file and symlink under `root`: (size, mode, content hash for small files).
fn snapshot(root: &Path) -> std::collections::BTreeMap<String, (u64, u32, u64)> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
                continue;
            }
            let mut h = std::collections::hash_map::DefaultHasher::new();
            if meta.is_file() && meta.len() < (1 << 20) {
                std::fs::read(&p).unwrap_or_default().hash(&mut h);
            }
            let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
            out.insert(rel, (meta.len(), meta.permissions().mode(), h.finish()));
        }
    }
    out
}

/// What a cleanup changed: removed paths, and files whose size, mode or content changed.
fn changes(
    before: &std::collections::BTreeMap<String, (u64, u32, u64)>,
    after: &std::collections::BTreeMap<String, (u64, u32, u64)>,
) -> (Vec<String>, Vec<String>) {
    let removed = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let changed = (before.iter())
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        after.keys().all(|k| before.contains_key(k)),
        "a cleanup adds nothing: {:?}",
        after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .collect::<Vec<_>>()
    );
    (removed, changed)
}

/// `path` in `root` with its folder's symlinks resolved (Debian's /var/spool/mail is /var/mail).
fn canonical(root: &Path, path: &str) -> String {
    let p = root.join(path.trim_start_matches('/'));
    let dir = p.parent().unwrap().canonicalize().unwrap();
    let root = root.canonicalize().unwrap();
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    format!("/{}", dir.strip_prefix(&root).unwrap().join(name).display())
}

fn put(root: &Path, path: &str, content: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// The Linux cleanup presets, run as the builder runs them, in a Debian root seeded with what each
/// lists and with files it must leave: each removes (or empties) exactly what it says, and nothing
/// else in the whole filesystem changes.
#[test]
fn the_linux_cleanup_presets_remove_exactly_what_they_list() {
    use recipe_model::{CleanupPreset, Os};
    recipe_targets::targets(); // declares the WorkSpaces and AppStream presets
    let dir = tempfile::tempdir().unwrap();
    let config = aws_sim::MachineConfig::under(dir.path().join("machines"));
    let debian = aws_sim::machine::RootSource::Debian {
        suite: "bookworm".into(),
    };
    // Seeded everywhere: (path, listed by which presets).
    const L: &str = "linux";
    const W: &str = "workspaces-linux";
    const A: &str = "appstream-linux";
    let seeded: &[(&str, &[&str])] = {
        &[
            ("/tmp/build.tar", &[L, A]),
            ("/tmp/.hidden", &[L]),
            ("/var/tmp/x", &[L, A]),
            ("/var/log/app.log.1", &[L]),
            ("/var/log/old.gz", &[L]),
            ("/etc/ssh/ssh_host_rsa_key", &[L]),
            ("/etc/ssh/ssh_host_rsa_key.pub", &[L]),
            (
                "/var/lib/cloud/instances/i-1/sem/config_scripts_per_instance",
                &[L],
            ),
            ("/var/lib/cloud/data/status.json", &[L]),
            ("/var/log/cloud-init.log", &[L]),
            ("/var/lib/dhcp/dhclient.leases", &[L]),
            ("/etc/udev/rules.d/70-persistent-net.rules", &[L]),
            ("/var/spool/mail/root", &[L]),
            ("/var/backups/passwd.bak", &[L]),
            ("/root/.bash_history", &[L, W, A]),
            ("/home/u/.bash_history", &[L]),
            ("/root/.ssh/authorized_keys", &[L, W]),
            ("/home/u/.ssh/authorized_keys", &[L]),
            ("/root/.aws/credentials", &[L, W, A]),
            ("/home/u/.netrc", &[L]),
            ("/root/.netrc", &[L, W]),
            ("/var/cache/apt/archives/jq.deb", &[L]),
            ("/var/lib/apt/lists/deb.debian.org_Packages", &[L]),
            ("/opt/recipe-build/step.sh", &[W]),
            ("/root/recipe-build/out", &[W]),
            // Left by every preset.
            ("/opt/app/data", &[]),
            ("/etc/ssh/sshd_config", &[]),
            ("/home/u/notes.txt", &[]),
            (
                "/var/lib/cloud/scripts/per-instance/recipe-first-boot.sh",
                &[],
            ),
            ("/var/log/amazon/ssm/amazon-ssm-agent.log", &[]),
            ("/var/log/skylight/agent.log", &[]),
        ]
    };
    for preset in [
        CleanupPreset::LINUX,
        CleanupPreset::named(W).expect("declared"),
        CleanupPreset::named(A).expect("declared"),
    ] {
        let root = dir.path().join(preset.as_str()).join("root");
        aws_sim::machine_jobs::make_root(&config, &root, &debian).unwrap();
        for (path, _) in seeded {
            put(&root, path, "x\n");
        }
        put(&root, "/var/log/app.log", "line\n");
        put(
            &root,
            "/etc/machine-id",
            "0123456789abcdef0123456789abcdef\n",
        );
        let before = snapshot(&root);
        let mut want_removed: Vec<String> = (seeded.iter())
            .filter(|(_, by)| by.contains(&preset.as_str()))
            .map(|(p, _)| canonical(&root, p))
            .collect();
        let script =
            recipe_ssm::render::in_bash(&recipe_ssm::render::cleanup_script(preset, Os::Linux));
        let (code, out, err) =
            aws_sim::machine_jobs::run_in_root(&root, &script, std::time::Duration::from_secs(300))
                .unwrap();
        assert_eq!(code, Some(0), "{}: {out}\n{err}", preset.as_str());
        let (removed, changed) = changes(&before, &snapshot(&root));
        // Logs are emptied (rotated ones deleted by `linux`), except the agents' that WorkSpaces
        // removes itself at capture.
        let agents =
            |p: &str| p.starts_with("/var/log/amazon/") || p.starts_with("/var/log/skylight");
        let mut want_changed: Vec<String> = (before.iter())
            .filter(|(p, v)| p.starts_with("/var/log/") && v.0 > 0 && !want_removed.contains(p))
            .filter(|(p, _)| preset.as_str() != W || !agents(p))
            .map(|(p, _)| p.clone())
            .collect();
        if preset == CleanupPreset::LINUX {
            want_changed.push("/etc/machine-id".into());
            // `apt-get clean` also drops the package caches apt made at bootstrap, and the lists
            // go whole (their lock too).
            want_removed.extend(
                (before.keys())
                    .filter(|p| p.starts_with("/var/cache/apt/") && p.ends_with(".bin"))
                    .chain(
                        before
                            .keys()
                            .filter(|p| p.starts_with("/var/lib/apt/lists/")),
                    )
                    .cloned(),
            );
            want_removed.dedup();
        }
        want_removed.sort();
        want_changed.sort();
        assert_eq!(removed, want_removed, "{} removed", preset.as_str());
        assert_eq!(changed, want_changed, "{} changed", preset.as_str());
    }
}

/// The main job's Debian examples, one per strategy, in the sandbox: their steps really run (apt
/// installs nginx), each image is an artifact holding what its strategy bakes, and a second plan
/// has no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_job_runs_the_debian_examples_for_real() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for f in super::walk(&super::root().join("recipes/debian")) {
        let to = d.join(f.strip_prefix(super::root()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, to).unwrap();
    }
    let recipes = ["recipes/debian"];
    let key = signing_key(d);
    let apply = [
        "apply",
        "--auto-approve",
        "--sign-key",
        key.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = tokio::task::block_in_place(|| sandbox(d, &apply, &recipes));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Setting up nginx-light"),
        "apt really ran:\n{stdout}"
    );
    let arts = artifacts(d);
    let names: Vec<&str> = arts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["debian-app-1.0.0", "debian-base-1.0.0", "debian-web-1.0.0"]
    );
    let of = |name: &str| listing(&arts.iter().find(|(n, _)| n.starts_with(name)).unwrap().1);
    let web = of("debian-web");
    assert!(web.contains("./usr/sbin/nginx") && web.contains("./var/www/html/index.html"));
    let app = of("debian-app");
    assert!(app.contains("./opt/app/runtime"), "baked");
    assert!(
        !app.contains("./opt/app/instance.env"),
        "written at first boot, not baked"
    );
    let base = of("debian-base");
    assert!(
        !base.contains("./usr/bin/curl"),
        "zero: installed at first boot, not baked"
    );
    let web_tar = &arts
        .iter()
        .find(|(n, _)| n.starts_with("debian-web"))
        .unwrap()
        .1;
    sbom_lists_what_dpkg_query_lists(web_tar);
    tokio::task::block_in_place(|| evidence_verifies_and_tampering_fails(d, &key, web_tar));
    let (code, stdout, _) =
        tokio::task::block_in_place(|| sandbox(d, &["plan", "--detailed-exitcode"], &recipes));
    assert_eq!(code, Some(0), "no change after the apply:\n{stdout}");
}

/// A fresh P-256 signing key, PKCS#8 PEM, in `dir`.
fn signing_key(dir: &Path) -> PathBuf {
    use p256::pkcs8::EncodePrivateKey;
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let pem = key.to_pkcs8_pem(Default::default()).unwrap();
    let path = dir.join("provenance.pem");
    std::fs::write(&path, pem.as_bytes()).unwrap();
    path
}

/// Issue 28: each image the main job built has its provenance kept, signed, and `recipe verify`
/// passes on each (the web image's SBOM too); one byte flipped in the artifact, in the signed
/// statement or in the signature fails it (exit 7), naming what failed.
fn evidence_verifies_and_tampering_fails(d: &Path, key: &Path, web_tar: &Path) {
    let key = key.to_str().unwrap();
    let verify = |r: &str| super::recipe_in(d, &["verify", r, "--key", key, "--sandbox"]);
    for r in ["debian-app", "debian-base", "debian-web"] {
        let (code, out, err) = verify(r);
        assert_eq!(code, Some(0), "{r}:\n{out}{err}");
        assert!(out.contains("ok      signature of the provenance"), "{out}");
        assert!(
            out.contains("subjects and the build parameters match"),
            "{out}"
        );
    }
    let (_, out, _) = verify("debian-web");
    assert!(
        out.contains("ok      the SBOM is the one the provenance names"),
        "{out}"
    );
    // The kept SBOM lists the page the recipe's `file` step placed, with its source's SHA-256.
    let evidence = d.join(".recipe/sandbox/state/evidence/debian-web");
    let sbom = std::fs::read_dir(&evidence)
        .unwrap()
        .map(|e| e.unwrap().path());
    let sbom = sbom
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".sbom.cdx.json"));
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sbom.unwrap()).unwrap()).unwrap();
    let page = std::fs::read(d.join("recipes/debian/files/index.html")).unwrap();
    let want = recipe_state::hex(&<sha2::Sha256 as sha2::Digest>::digest(&page));
    let components = sbom["components"].as_array().unwrap();
    let placed = components
        .iter()
        .find(|c| c["name"] == "/var/www/html/index.html");
    let placed = placed.expect("the placed page is in the SBOM");
    assert_eq!(placed["type"], "file");
    assert_eq!(placed["hashes"][0]["content"], want.as_str());

    let failed = |what: &str| {
        let (code, out, err) = verify("debian-web");
        assert_eq!(code, Some(7), "{what}:\n{out}{err}");
        out.lines()
            .filter(|l| l.starts_with("FAILED"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let flip = |path: &Path, at: usize| {
        let mut b = std::fs::read(path).unwrap();
        b[at] ^= 1;
        std::fs::write(path, b).unwrap();
    };
    flip(web_tar, 4096);
    let f = failed("artifact");
    let name = web_tar.file_name().unwrap().to_string_lossy();
    assert!(f.contains("subject") && f.contains(name.as_ref()), "{f}");
    flip(web_tar, 4096);

    let dir = d.join(".recipe/sandbox/state/evidence/debian-web");
    let file = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path());
    let file = file
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".provenance.dsse.json"));
    let file = file.expect("the web image's provenance is kept");
    let original = std::fs::read(&file).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    for part in ["payload", "sig"] {
        let mut env: serde_json::Value = serde_json::from_slice(&original).unwrap();
        let field = if part == "payload" {
            &mut env["payload"]
        } else {
            &mut env["signatures"][0]["sig"]
        };
        let mut bytes = base64::Engine::decode(&b64, field.as_str().unwrap()).unwrap();
        bytes[20] ^= 1;
        *field = base64::Engine::encode(&b64, &bytes).into();
        std::fs::write(&file, serde_json::to_vec(&env).unwrap()).unwrap();
        let f = failed(part);
        assert!(f.contains("signature"), "{part}: {f}");
    }
    std::fs::write(&file, &original).unwrap();
    assert_eq!(verify("debian-web").0, Some(0));

    // A policy's package deny-list is checked in the SBOM.
    let policy = d.join("policy.yaml");
    let with = |text: &str| {
        std::fs::write(&policy, text).unwrap();
        let p = policy.to_str().unwrap();
        super::recipe_in(
            d,
            &[
                "verify",
                "debian-web",
                "--key",
                key,
                "--sandbox",
                "--policy",
                p,
            ],
        )
    };
    let (code, out, _) = with("require-sbom: true\ndeny-packages: [telnetd]\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok      policy: none of the 1 denied packages"),
        "{out}"
    );
    let (code, out, _) = with("deny-packages: [nginx-light]\n");
    assert_eq!(code, Some(7), "{out}");
    assert!(
        out.contains("FAILED  policy: the image holds nginx-light@"),
        "{out}"
    );
}

/// Issue 28's measure: the SBOM of a sandbox root (`recipes/debian/web-nginx-full.yaml`'s) lists at
/// least 99% of what `dpkg-query --admindir=<root>/var/lib/dpkg -W` lists, each with its exact
/// version and a `pkg:deb` purl.
fn sbom_lists_what_dpkg_query_lists(tar: &Path) {
    let root = tempfile::tempdir().unwrap();
    let untar = std::process::Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(tar)
        .arg("-C")
        .arg(root.path())
        .arg("./var/lib/dpkg")
        .status()
        .unwrap();
    assert!(untar.success());
    let admin = root.path().join("var/lib/dpkg");
    let status = std::fs::read_to_string(admin.join("status")).unwrap();
    let packages = recipe_provenance::sbom::dpkg_packages(&status);
    let out = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Package} ${Version}\\n"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    let listed: Vec<&str> = listed.lines().filter(|l| !l.ends_with(' ')).collect();
    assert!(
        listed.iter().any(|l| l.starts_with("nginx-light ")),
        "{listed:?}"
    );
    let have: Vec<String> = (packages.iter())
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    let found = listed
        .iter()
        .filter(|l| have.iter().any(|h| h == *l))
        .count();
    assert!(
        found * 100 >= listed.len() * 99,
        "{found} of {}",
        listed.len()
    );
    let sbom =
        recipe_provenance::sbom::cyclonedx(("debian-web", "1.0.0"), "debian", &packages, &[])
            .unwrap();
    assert!(
        sbom.contains("\"purl\": \"pkg:deb/debian/nginx-light@"),
        "a purl per package"
    );
}

/// `recipe try`: the steps run in a fresh root with their output shown as they go; `--step` stops
/// after a step and `--keep` keeps the root (with how to get a shell); a failing step stops there,
/// keeps the root and exits 1.
#[test]
fn try_runs_the_steps_in_a_fresh_root_and_stops_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    let steps = "  - shell: { run: \"echo one > /opt/one; echo first step says hi\" }\n\
                 \x20 - shell: { run: \"echo two > /opt/two\" }\n\
                 \x20 - shell: { run: \"echo about to fail; exit 7\" }\n";
    std::fs::write(d.join("try.yaml"), recipe("deb-try", "full", steps)).unwrap();
    let root = d.join(".recipe/try/deb-try/root");
    let (code, stdout, stderr) = super::recipe_in(d, &["try", "try.yaml", "--step", "1", "--keep"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("│ first step says hi"), "{stdout}");
    assert!(stdout.contains("a shell in it: sudo bwrap"), "{stdout}");
    assert!(root.join("opt/one").exists() && !root.join("opt/two").exists());
    let (code, stdout, _) = super::recipe_in(d, &["try", "try.yaml"]);
    assert_eq!(code, Some(5), "{stdout}");
    assert!(
        stdout.contains("│ about to fail") && stdout.contains("✗ exit 7"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("cleanup"),
        "stops at the failure:\n{stdout}"
    );
    assert!(
        root.join("opt/two").exists(),
        "a fresh root, kept after the failure"
    );
}

/// A second `recipe try` whose early steps did not change starts from the checkpoint after them:
/// the first step is not run again (its random output is the first run's), the changed one is.
#[test]
fn try_reuses_the_root_up_to_the_first_changed_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    let write = |last: &str| {
        let steps = format!(
            "  - shell: {{ run: \"od -An -tx1 -N8 /dev/urandom > /opt/first; sleep 2\" }}\n\
             \x20 - shell: {{ run: \"echo {last} > /opt/last\" }}\n"
        );
        std::fs::write(d.join("try.yaml"), recipe("deb-cache", "full", &steps)).unwrap();
    };
    let root = d.join(".recipe/try/deb-cache/root");
    write("one");
    let (code, stdout, _) = super::recipe_in(d, &["try", "try.yaml", "--keep"]);
    assert_eq!(code, Some(0), "{stdout}");
    let first = std::fs::read_to_string(root.join("opt/first")).unwrap();
    write("two");
    let (code, stdout, _) = super::recipe_in(d, &["try", "try.yaml", "--keep"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("step 1: unchanged"), "{stdout}");
    assert!(
        !stdout.contains("step 1/2"),
        "step 1 is not run again:\n{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("opt/first")).unwrap(),
        first
    );
    assert_eq!(
        std::fs::read_to_string(root.join("opt/last")).unwrap(),
        "two\n"
    );
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every regular file under `dir` (symlinks not followed).
fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    regular_files(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// A secret passed by reference reaches the steps on the builder (in a command, an environment
/// variable and a script argument), and its value is nowhere else: not in the image, the plan, the
/// state, the journal or the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_the_steps_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let value = "tok-9f2c \"quoted\" $HOME ünï";
    // The account's parameter, as its platform team would have put it.
    let sim = aws_sim::Sim::start(aws_sim::Config {
        state_dir: Some(d.join(".recipe/sandbox/cloud")),
        ..Default::default()
    })
    .await
    .unwrap();
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .endpoint_url(sim.url())
        .region(aws_sdk_ssm::config::Region::new("eu-west-2"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            aws_sim::DEFAULT_ACCOUNT,
            "x",
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
        .put_parameter()
        .name("/app/token")
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    sim.stop().await;
    std::fs::create_dir_all(d.join("scripts")).unwrap();
    std::fs::write(
        d.join("scripts/sha.sh"),
        "#!/bin/sh\nprintf '%s' \"$1\" | sha256sum | cut -c1-64 > /opt/arg.sha\n",
    )
    .unwrap();
    let steps = r#"  - shell: { run: "printf '%s' \"${secret.token}\" | sha256sum | cut -c1-64 > /opt/run.sha" }
  - shell:
      env: { TOKEN: "Bearer ${secret.token}" }
      run: printf '%s' "$TOKEN" | sha256sum | cut -c1-64 > /opt/env.sha
  - script: { path: scripts/sha.sh, args: ["${secret.token}"] }
"#;
    let text = recipe("deb-secret", "full", steps).replace(
        "base:",
        "secrets:\n  token: { ssm-parameter: /app/token }\nbase:",
    );
    std::fs::write(d.join("app.yaml"), text).unwrap();
    let (code, plan_out, plan_err) =
        tokio::task::block_in_place(|| sandbox(d, &["plan", "--out", "plan.json"], &["app.yaml"]));
    assert_eq!(code, Some(0), "{plan_out}\n{plan_err}");
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| sandbox(d, &["apply", "--auto-approve"], &["app.yaml"]));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let arts = artifacts(d);
    let tar = &arts[0].1;
    // The steps had the value.
    assert_eq!(read(tar, "/opt/run.sha").trim(), sha256_hex(value));
    assert_eq!(
        read(tar, "/opt/env.sha").trim(),
        sha256_hex(&format!("Bearer {value}"))
    );
    assert_eq!(read(tar, "/opt/arg.sha").trim(), sha256_hex(value));
    // Nowhere else: the image (unpacked), the plan, state and journals, the logs.
    let unpacked = d.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let ok = std::process::Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(tar)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(ok.success());
    for needle in [value, "tok-9f2c"] {
        assert!(
            files_containing(&unpacked, needle).is_empty(),
            "in the image"
        );
        let recorded: Vec<PathBuf> = files_containing(&d.join(".recipe"), needle)
            .into_iter()
            // The sandbox's cloud is AWS itself, where the parameter lives.
            .filter(|f| !f.starts_with(d.join(".recipe/sandbox/cloud")))
            .collect();
        assert!(
            recorded.is_empty(),
            "in state, journals or machines: {recorded:?}"
        );
        let plan = std::fs::read_to_string(d.join("plan.json")).unwrap();
        assert!(!plan.contains(needle), "in the saved plan");
        for log in [&plan_out, &plan_err, &stdout, &stderr] {
            assert!(!log.contains(needle), "in the logs");
        }
    }
}

/// `recipe apply FILE --sandbox` with the Debian root named for a base by `var`
/// (`RECIPE_SANDBOX_ROOT_…`): its stdout, once it succeeded.
fn apply_on_debian_root(d: &Path, file: &str, var: &str) -> String {
    let prep = d.join("prep");
    let config = aws_sim::MachineConfig::under(prep.clone());
    let debian = aws_sim::machine::RootSource::Debian {
        suite: "bookworm".into(),
    };
    aws_sim::machine_jobs::make_root(&config, &prep.join("root"), &debian).unwrap();
    std::fs::remove_dir_all(&prep).unwrap();
    let tarball = config.cache.join("debian-bookworm-minbase.tar.zst");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recipe"))
        .args(["apply", file, "--sandbox", "--auto-approve"])
        .current_dir(d)
        .env("NO_COLOR", "1")
        .env(var, &tarball)
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    stdout
}

/// The sandbox's machine folders besides the artifacts (builders' roots not removed).
fn machine_folders(d: &Path) -> Vec<String> {
    std::fs::read_dir(d.join(".recipe/sandbox/machines"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "artifacts")
        .collect()
}

/// A Linux WorkSpace builder whose image has a sandbox root (here the Amazon Linux 2 bundle mapped to
/// the Debian root with `RECIPE_SANDBOX_ROOT_AMAZON_LINUX_2`): the steps, the pre-capture checks and
/// the cleanup run on it for real, and the image leaves out what WorkSpaces image creation removes
/// and shreds (seed 001), keeping the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linux_workspace_builder_runs_for_real_and_its_image_leaves_out_what_capture_removes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let desk = r#"name: sandbox-desk
target: workspaces
strategy: full
os: linux
version: 1.0.0
base: { bundle: wsb-clj85qzj1 }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: desk-builder
steps:
  - shell:
      name: what a WorkSpaces image has (Skylight, cloud-init)
      run: install -d /var/lib/skylight /opt/app /etc/ssh /var/lib/dhcp && printf '#!/bin/sh\n' > /usr/local/bin/cloud-init && chmod +x /usr/local/bin/cloud-init
  - shell:
      run: echo keep > /opt/app/keep; echo tmp > /tmp/scratch; install -d /home/dev; echo mine > /home/dev/notes; echo key > /etc/ssh/ssh_host_rsa_key; echo lease > /var/lib/dhcp/leases
cleanup: workspaces-linux
image:
  name: sandbox-desk-${version}
  description: Sandbox desk ${version}
"#;
    std::fs::write(d.join("desk.yaml"), desk).unwrap();
    let stdout = apply_on_debian_root(d, "desk.yaml", "RECIPE_SANDBOX_ROOT_AMAZON_LINUX_2");
    assert!(stdout.contains("artifact"), "{stdout}");
    let arts = artifacts(d);
    let list = listing(&arts[0].1);
    assert!(list.contains("./opt/app/keep"), "kept:\n{list}");
    for gone in [
        "./tmp/scratch",
        "./home/dev/notes",
        "./etc/ssh/ssh_host_rsa_key",
        "./var/lib/dhcp/leases",
    ] {
        assert!(!list.contains(gone), "image creation removes {gone}");
    }
    assert!(
        list.lines().any(|l| l.ends_with(" ./tmp/")),
        "the folders stay, emptied"
    );
    let left = machine_folders(d);
    assert!(left.is_empty(), "the builder's root is removed: {left:?}");
}

/// A Linux WorkSpaces zero image: WorkSpaces image creation removes /var/lib/cloud, so the launch
/// steps ride a systemd unit keyed to cloud-init's instance id. The captured image holds the
/// runner; the builder never ran the steps; a WorkSpace from the custom bundle runs them at its
/// first boot, once, and not again when it is rebooted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_from_a_zero_bundle_runs_its_launch_steps_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let zero = r#"name: sandbox-zero
target: workspaces
strategy: zero
os: linux
version: 1.0.0
base: { bundle: wsb-clj85qzj1 }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: zero-builder
steps:
  - shell:
      name: what a WorkSpaces image has (Skylight, cloud-init)
      stage: image
      run: install -d /var/lib/skylight /opt/app && printf '#!/bin/sh\n' > /usr/local/bin/cloud-init && chmod +x /usr/local/bin/cloud-init && echo baked > /opt/app/baked
  - shell: { run: "echo \"$(cat /var/lib/cloud/data/instance-id)\" >> /var/log/first-boot.log" }
cleanup: workspaces-linux
image:
  name: sandbox-zero-${version}
  description: Sandbox zero ${version}
bundle:
  name: sandbox-zero
  description: Sandbox zero
  compute: STANDARD
  root-volume-gib: 80
  user-volume-gib: 10
"#;
    std::fs::write(d.join("zero.yaml"), zero).unwrap();
    apply_on_debian_root(d, "zero.yaml", "RECIPE_SANDBOX_ROOT_AMAZON_LINUX_2");
    let arts = artifacts(d);
    let list = listing(&arts[0].1);
    assert!(list.contains("./opt/app/baked"), "{list}");
    assert!(
        list.contains("./usr/local/lib/recipe/first-boot.sh"),
        "{list}"
    );
    assert!(
        list.contains("./etc/systemd/system/multi-user.target.wants/recipe-first-boot.service")
    );
    assert!(
        !list.contains("first-boot.log"),
        "the builder never ran the launch steps"
    );
    let record = version_file_names(&arts[0].1, "sandbox-zero", "1.0.0");
    assert_eq!(record["target"], "workspaces");

    let sim = aws_sim::Sim::start(aws_sim::Config {
        durations: aws_sim::Durations::instant(),
        state_dir: Some(d.join(".recipe/sandbox/cloud")),
        machines: Some(aws_sim::MachineConfig::under(
            d.join(".recipe/sandbox/machines"),
        )),
        ..Default::default()
    })
    .await
    .unwrap();
    let ws = workspaces_client(sim.url()).await;
    let bundles = ws.describe_workspace_bundles().send().await.unwrap();
    let bundle = bundles
        .bundles()
        .iter()
        .find(|b| b.name() == Some("sandbox-zero"))
        .and_then(|b| b.bundle_id())
        .unwrap_or_else(|| panic!("the custom bundle: {bundles:?}"))
        .to_string();
    let req = aws_sdk_workspaces::types::WorkspaceRequest::builder()
        .directory_id("d-906734325")
        .user_name("alice")
        .bundle_id(&bundle)
        .build()
        .unwrap();
    let made = ws.create_workspaces().workspaces(req).send().await.unwrap();
    let id = made.pending_requests()[0]
        .workspace_id()
        .unwrap()
        .to_string();
    let m = machine_when(&sim, &id, |m| m.ready && m.boots == 1).await;
    let log = std::path::Path::new(&m.root).join("var/log/first-boot.log");
    let first = std::fs::read_to_string(&log).expect("the launch step ran at the first boot");
    assert_eq!(first.trim(), id, "once, on the new WorkSpace: {first}");
    for _ in 0..200 {
        if sim.world().workspaces.workspaces[&id].state == "AVAILABLE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let reboot = aws_sdk_workspaces::types::RebootRequest::builder()
        .workspace_id(&id)
        .build()
        .unwrap();
    let out = ws
        .reboot_workspaces()
        .reboot_workspace_requests(reboot)
        .send()
        .await
        .unwrap();
    assert!(out.failed_requests().is_empty(), "{out:?}");
    machine_when(&sim, &id, |m| m.boots == 2).await;
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        first,
        "not again after a reboot"
    );
    sim.stop().await;
}

/// A WorkSpaces client of the aws-sim at `url`, as the default account, in eu-west-2.
async fn workspaces_client(url: &str) -> aws_sdk_workspaces::Client {
    aws_sdk_workspaces::Client::new(&super::sim_aws(url, "eu-west-2").await.sdk)
}

/// A Linux AppStream image builder whose base image has a sandbox root (mapped with
/// `RECIPE_SANDBOX_ROOT_APPSTREAM_AMAZONLINUX2`): its steps and cleanup run on it for real, the
/// Image Assistant's `create-image` makes the image, and the image is the builder's root as an
/// artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linux_appstream_builder_runs_for_real_and_its_image_is_an_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let apps = r#"name: sandbox-apps
target: appstream
strategy: full
os: linux
version: 1.0.0
base: { appstream-image: AppStream-AmazonLinux2-02-11-2025 }
builder:
  region: eu-west-2
  instance-type: stream.standard.medium
  subnet-id: subnet-0a1b2c3d4e5f60718
  security-group-ids: [sg-0fedcba9876543210]
  iam-role-arn: arn:aws:iam::123456789012:role/appstream-image-builder
steps:
  - shell: { run: "install -d /opt/tools && echo ready > /opt/tools/ready && echo scratch > /tmp/scratch" }
cleanup: appstream-linux
image:
  name: sandbox-apps-${version}
"#;
    std::fs::write(d.join("apps.yaml"), apps).unwrap();
    let stdout = apply_on_debian_root(d, "apps.yaml", "RECIPE_SANDBOX_ROOT_APPSTREAM_AMAZONLINUX2");
    let arts = artifacts(d);
    assert_eq!(arts.len(), 1, "{arts:?}\n{stdout}");
    assert_eq!(arts[0].0, "sandbox-apps-1.0.0");
    assert!(
        stdout.contains(": artifact .recipe/sandbox/machines/artifacts/"),
        "{stdout}"
    );
    let list = listing(&arts[0].1);
    assert!(list.contains("./opt/tools/ready"), "the step ran:\n{list}");
    assert!(!list.contains("./tmp/scratch"), "the cleanup ran");
    version_file_names(&arts[0].1, "sandbox-apps", "1.0.0");
    let left = machine_folders(d);
    assert!(left.is_empty(), "the builder's root is removed: {left:?}");
}
