//! What the machine worker does for each [`Job`]: make a root and boot it, run a command in it,
//! capture it, remove it. Outcomes are written back into the world under its lock; the work itself
//! runs without it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::Digest;

use crate::clock::now_ms;
use crate::machine::{Job, MachineConfig, Ran, RootSource, in_root, run_bounded};
use crate::server::Shared;
use crate::world::World;

/// SSM truncates an invocation's output to 24,000 characters.
const MAX_OUTPUT: usize = 24_000;

/// Exit code that asks the agent to reboot the node after the script (Linux).
const REBOOT: i32 = 194;

/// The most reboots one command may ask for before aws-sim gives up on it (the agent would go on
/// until the execution timeout).
const MAX_REBOOTS: u32 = 10;

pub(crate) fn run(shared: &Shared, config: &MachineConfig, job: Job) {
    match job {
        Job::Provision { instance, source } => provision(shared, config, &instance, &source),
        Job::Run {
            command,
            instance,
            target,
            script,
            timeout_secs,
        } => {
            let at = Target {
                machine: &instance,
                invocation: &target,
            };
            run_command(shared, &at, &command, &script, timeout_secs);
        }
        Job::Capture {
            image,
            instance,
            exclude,
        } => capture(shared, config, &image, &instance, &exclude),
        Job::Boot { instance } => reboot(shared, &instance),
        Job::Remove { instance } => {
            let _ = std::fs::remove_dir_all(config.dir.join(crate::machine::folder_of(&instance)));
            shared.with_world(|w| {
                w.machines.remove(&instance);
            });
        }
    }
}

fn root_of(shared: &Shared, instance: &str) -> Option<PathBuf> {
    let mut root = None;
    shared.with_world(|w| root = w.machines.get(instance).map(|m| PathBuf::from(&m.root)));
    root
}

fn provision(shared: &Shared, config: &MachineConfig, instance: &str, source: &RootSource) {
    let Some(root) = root_of(shared, instance) else {
        return;
    };
    let mut place = None;
    shared.with_world(|w| {
        place = (w
            .ec2
            .instances
            .get(instance)
            .map(|i| (i.owner.clone(), i.region.clone())))
        .or_else(|| {
            let ws = w.workspaces.workspaces.get(instance)?;
            Some((ws.account.clone(), ws.region.clone()))
        })
        .or_else(|| {
            let b = w.appstream.builders.get(instance)?;
            Some((b.account.clone(), b.region.clone()))
        });
    });
    let (account, region) = place.unwrap_or_default();
    let made = make_root(config, &root, source)
        .and_then(|()| give_aws(config, &root, &account, &region))
        .and_then(|()| boot(&root, instance, 1));
    shared.with_world(|w| {
        if let Some(m) = w.machines.get_mut(instance) {
            match &made {
                Ok(()) => {
                    m.ready = true;
                    m.boots = 1;
                }
                Err(e) => m.error = Some(e.clone()),
            }
        }
    });
}

/// The root in place: the source tarball (built first for Debian) unpacked into `root`.
pub fn make_root(config: &MachineConfig, root: &Path, source: &RootSource) -> Result<(), String> {
    tool("bwrap", "bubblewrap")?;
    let tarball = match source {
        RootSource::Debian { suite } => debian(config, suite)?,
        RootSource::Tarball { path } | RootSource::Artifact { path } => PathBuf::from(path),
    };
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).map_err(|e| format!("cannot make {}: {e}", root.display()))?;
    let out = Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(root)
        .arg("--numeric-owner")
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot unpack {}: {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The machine's `aws`, beside its root (mounted first on its PATH): see `machine::aws_shim`.
fn give_aws(
    config: &MachineConfig,
    root: &Path,
    account: &str,
    region: &str,
) -> Result<(), String> {
    let (Some(endpoint), Some(dir)) = (&config.endpoint, root.parent()) else {
        return Ok(());
    };
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    let aws = bin.join("aws");
    std::fs::write(&aws, crate::machine::aws_shim(endpoint, account, region))
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(&aws, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())
}

/// A program the machines need, or why not.
fn tool(program: &str, package: &str) -> Result<(), String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        Ok(())
    } else {
        Err(format!(
            "`{program}` is not installed, so the sandbox cannot run steps: install the `{package}` package"
        ))
    }
}

/// The cached Debian root tarball of `suite`, built with mmdebstrap the first time.
fn debian(config: &MachineConfig, suite: &str) -> Result<PathBuf, String> {
    // One build at a time in this process (a mutex) and across processes (a file lock): machines
    // provisioned together, by one sandbox or by several, wait for the first build and use it.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = BUILDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = config.cache.join(format!("debian-{suite}-minbase.tar.zst"));
    if path.exists() {
        return Ok(path);
    }
    tool("mmdebstrap", "mmdebstrap")?;
    std::fs::create_dir_all(&config.cache).map_err(|e| e.to_string())?;
    let lock = std::fs::File::create(config.cache.join(format!(".debian-{suite}.lock")))
        .map_err(|e| e.to_string())?;
    lock.lock()
        .map_err(|e| format!("cannot lock the root cache: {e}"))?;
    if path.exists() {
        return Ok(path);
    }
    let tmp = config
        .cache
        .join(format!(".debian-{suite}-{}.tar.zst", std::process::id()));
    let out = Command::new("mmdebstrap")
        .args(["--variant=minbase", "--quiet", suite])
        .arg(&tmp)
        .output()
        .map_err(|e| format!("cannot run mmdebstrap: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "mmdebstrap {suite} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// A machine started again boots once more.
fn reboot(shared: &Shared, instance: &str) {
    let mut state = None;
    shared.with_world(|w| {
        state = w
            .machines
            .get(instance)
            .filter(|m| m.ready)
            .map(|m| (PathBuf::from(&m.root), m.boots));
    });
    let Some((root, boots)) = state else { return };
    let booted = boot(&root, instance, boots + 1).is_ok();
    shared.with_world(|w| {
        if let Some(m) = w.machines.get_mut(instance).filter(|_| booted) {
            m.boots = boots + 1;
        }
    });
}

/// Boot `n` of the machine, as far as the sandbox models a Linux boot:
/// - cloud-init records the instance id in `/var/lib/cloud/data/instance-id` (cloud-init docs,
///   "Directory layout"), runs the per-instance scripts at the first boot of this instance id (its
///   semaphore kept under /var/lib/cloud/instances/<id>/sem) and the per-boot scripts at every boot;
/// - then systemd starts the units enabled for `multi-user.target` (the `.wants/` links that
///   `systemctl enable` makes, systemd.unit(5) "WantedBy="): each `ExecStart=` command runs once,
///   as a `Type=oneshot` unit's would. Nothing else of systemd is modelled (docs/sandbox.md).
fn boot(root: &Path, instance: &str, n: u32) -> Result<(), String> {
    let _ = std::fs::set_permissions(
        root.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    let sem = format!("/var/lib/cloud/instances/{instance}/sem/config_scripts_per_instance");
    let script = format!(
        "run() {{ for f in \"$1\"/*; do [ -x \"$f\" ] || continue; echo \"== $f\"; \"$f\" || echo \"== $f failed: exit $?\"; done; }}\n\
         mkdir -p /var/lib/cloud/data && echo {instance} > /var/lib/cloud/data/instance-id\n\
         if [ ! -e {sem} ]; then run /var/lib/cloud/scripts/per-instance; mkdir -p \"$(dirname {sem})\"; date > {sem}; fi\n\
         run /var/lib/cloud/scripts/per-boot\n\
         for u in /etc/systemd/system/multi-user.target.wants/*.service; do [ -e \"$u\" ] || continue; \
         sed -n 's/^ExecStart=[-@+!:]*//p' \"$u\" | while IFS= read -r c; do echo \"== $u\"; sh -c \"$c\" </dev/null || echo \"== $u failed: exit $?\"; done; done\n"
    );
    let log = root.parent().unwrap_or(root).join(format!("boot-{n}"));
    let c = in_root(root, &hostname(instance), &["/bin/sh", "-c", &script]);
    run_bounded(c, &log, Duration::from_secs(3600))
        .map(|_| ())
        .map_err(|e| format!("cannot boot the machine: {e}"))
}

/// Where a script run from outside a machine is mounted inside it (on the `/run` tmpfs).
const OUTSIDE_SCRIPT: &str = "/run/recipe-sandbox/script.sh";

/// The command that runs `script` in `root` as a machine runs a command: an executable file run
/// by `sh -c`, mounted from outside the root so it leaves no trace there (`2>&1` when `merged`).
/// Also the folder its output files go to.
fn script_command(root: &Path, script: &str, merged: bool) -> std::io::Result<(Command, PathBuf)> {
    let out = root.parent().unwrap_or(root).join("run");
    std::fs::create_dir_all(&out)?;
    let file = out.join("script.sh");
    std::fs::write(&file, script)?;
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let run = if merged {
        format!("{OUTSIDE_SCRIPT} 2>&1")
    } else {
        OUTSIDE_SCRIPT.to_string()
    };
    let binds = [(file.as_path(), OUTSIDE_SCRIPT)];
    let c = crate::machine::in_root_with(root, "sandbox", &binds, &["/bin/sh", "-c", &run]);
    Ok((c, out))
}

/// Run `script` in `root` as a machine runs a command, bounded by `timeout`: the exit code
/// (`None`: timed out), stdout and stderr. For tests and `recipe try`.
pub fn run_in_root(
    root: &Path,
    script: &str,
    timeout: Duration,
) -> std::io::Result<(Option<i32>, String, String)> {
    let (c, out) = script_command(root, script, false)?;
    run_bounded(c, &out, timeout)
}

/// Run `script` in `root` as [`run_in_root`] does, handing each line of its output (stdout and
/// stderr together) to `line` as it comes: the exit code, `None` if it ran past `timeout`.
pub fn run_live(
    root: &Path,
    script: &str,
    timeout: Duration,
    line: &mut dyn FnMut(&str),
) -> std::io::Result<Option<i32>> {
    let (mut c, _) = script_command(root, script, true)?;
    let mut child = c.stdout(std::process::Stdio::piped()).spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + timeout;
    let timed_out = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(l) => line(&l),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            break true;
        }
    };
    let status = child.wait()?;
    let _ = reader.join();
    Ok(if timed_out { None } else { status.code() })
}

fn hostname(instance: &str) -> String {
    format!("ip-{}", instance.trim_start_matches("i-"))
}

fn truncated(s: &str) -> String {
    s.chars().take(MAX_OUTPUT).collect()
}

/// Where a command runs: the machine, and the target its invocation names (the instance itself,
/// or the managed node on a WorkSpace).
struct Target<'a> {
    machine: &'a str,
    invocation: &'a str,
}

/// How a command ended on a machine.
struct Outcome {
    status: &'static str,
    code: i64,
    stdout: String,
    stderr: String,
    /// How many times the machine rebooted for it (exit code 194).
    reboots: u32,
}

impl Outcome {
    fn new(status: &'static str, code: i64, stdout: String, stderr: String) -> Outcome {
        Outcome {
            status,
            code,
            stdout,
            stderr,
            reboots: 0,
        }
    }
}

/// Run one command as AWS-RunShellScript does: `_script.sh` under the agent's orchestration folder,
/// run by `sh -c`; exit 194 reboots the node after the command.
fn run_command(shared: &Shared, at: &Target<'_>, command: &str, script: &str, timeout_secs: u64) {
    let instance = at.machine;
    let mut state = None;
    shared.with_world(|w| {
        let m = w.machines.get(instance);
        state = m.map(|m| (PathBuf::from(&m.root), m.error.clone(), m.boots));
    });
    let Some((root, error, boots)) = state else {
        return;
    };
    let outcome = match error {
        Some(why) => Ok(Outcome::new(
            "Success",
            0,
            format!("[sandbox] not executed: {why}\n"),
            String::new(),
        )),
        None => execute(&root, instance, command, script, timeout_secs, boots),
    };
    let o = outcome
        .unwrap_or_else(|e| Outcome::new("Failed", -1, String::new(), format!("[sandbox] {e}\n")));
    shared.with_world(|w| {
        finish(w, at, command, &o);
        if let Some(m) = w.machines.get_mut(instance) {
            m.boots = boots + o.reboots;
        }
    });
}

fn execute(
    root: &Path,
    instance: &str,
    command: &str,
    script: &str,
    timeout_secs: u64,
    boots: u32,
) -> Result<Outcome, String> {
    let dir = format!(
        "/var/lib/amazon/ssm/{instance}/document/orchestration/{command}/awsrunShellScript/0.awsrunShellScript"
    );
    let host_dir = root.join(dir.trim_start_matches('/'));
    std::fs::create_dir_all(&host_dir).map_err(|e| e.to_string())?;
    let file = host_dir.join("_script.sh");
    std::fs::write(&file, script).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let out = root.parent().unwrap_or(root).join("commands").join(command);
    // The agent's runShellScript plugin runs `sh -c <_script.sh>` (an executable file).
    let path = format!("{dir}/_script.sh");
    // Exit 194 makes the agent reboot the node and run the script again
    // (https://docs.aws.amazon.com/systems-manager/latest/userguide/send-commands-reboot.html).
    let (mut stdout, mut stderr, mut reboots) = (String::new(), String::new(), 0);
    loop {
        let c = in_root(root, &hostname(instance), &["/bin/sh", "-c", &path]);
        let (code, out_now, err_now) =
            run_bounded(c, &out, Duration::from_secs(timeout_secs.max(1)))
                .map_err(|e| e.to_string())?;
        stdout.push_str(&out_now);
        stderr.push_str(&err_now);
        let (status, code) = match code {
            Some(REBOOT) if reboots < MAX_REBOOTS => {
                reboots += 1;
                boot(root, instance, boots + reboots)?;
                continue;
            }
            None | Some(REBOOT) => ("TimedOut", -1),
            Some(0) => ("Success", 0),
            Some(n) => ("Failed", i64::from(n)),
        };
        return Ok(Outcome {
            reboots,
            ..Outcome::new(status, code, stdout, stderr)
        });
    }
}

fn finish(w: &mut World, at: &Target<'_>, command: &str, o: &Outcome) {
    let instance = at.machine;
    let now = now_ms(w.offset_ms);
    let mut comment = String::new();
    if let Some(cmd) = w.ssm.commands.get_mut(command) {
        comment = cmd.comment.clone();
        for inv in cmd
            .invocations
            .iter_mut()
            .filter(|i| i.instance_id == at.invocation)
        {
            inv.exec = false;
            inv.status = o.status.into();
            inv.final_status = o.status.into();
            inv.response_code = o.code;
            inv.stdout = truncated(&o.stdout);
            inv.stderr = truncated(&o.stderr);
            inv.done_at = now;
        }
    }
    if let Some(m) = w.machines.get_mut(instance) {
        m.ran.push(Ran {
            command: command.into(),
            comment,
            status: o.status.into(),
            code: o.code,
        });
    }
}

/// The artifact of `image`: the root as `<dir>/artifacts/<image>.tar.zst`, with a manifest
/// (`<image>.manifest.json`: the source, the commands run in order, the digest).
fn capture(
    shared: &Shared,
    config: &MachineConfig,
    image: &str,
    instance: &str,
    exclude: &[String],
) {
    let mut machine = None;
    shared.with_world(|w| machine = w.machines.get(instance).cloned());
    let Some(m) = machine else { return };
    let dir = config.dir.join("artifacts");
    let file = crate::machine::folder_of(image);
    let tarball = dir.join(format!("{file}.tar.zst"));
    // A machine whose root was never made has nothing to capture: the image fails, saying why.
    let made = match &m.error {
        Some(why) => Err(format!(
            "[sandbox] the machine's root filesystem was not made: {why}"
        )),
        None => archive_without(Path::new(&m.root), &tarball, exclude)
            .and_then(|()| digest(&tarball))
            .map_err(|e| format!("[sandbox] the capture failed: {e}")),
    };
    let why = made.as_ref().err().cloned();
    shared.with_world(|w| {
        let name = (w.ec2.images.get(image).map(|i| i.name.clone()))
            .or_else(|| w.workspaces.images.get(image).map(|i| i.name.clone()))
            .or_else(|| w.appstream.images.get(image).map(|i| i.name.clone()))
            .unwrap_or_default();
        if let Ok(sha) = &made {
            let manifest = serde_json::json!({
                "image": image,
                "name": name,
                "instance": instance,
                "source": m.source,
                "commands": m.ran,
                "artifact": tarball.file_name().map(|f| f.to_string_lossy().into_owned()),
                "sha256": sha,
            });
            let _ = std::fs::write(
                dir.join(format!("{file}.manifest.json")),
                serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
            );
        }
        let artifact = made
            .as_ref()
            .ok()
            .map(|_| tarball.to_string_lossy().into_owned());
        if let Some(img) = w.ec2.images.get_mut(image) {
            img.capturing = false;
            img.fail |= artifact.is_none();
            img.fail_reason = why.clone();
            img.artifact = artifact.clone();
        }
        if let Some(img) = w.workspaces.images.get_mut(image) {
            img.capturing = false;
            img.fail |= artifact.is_none();
            img.fail_reason = why.clone();
            img.artifact = artifact.clone();
        }
        if let Some(img) = w.appstream.images.get_mut(image) {
            img.capturing = false;
            img.artifact = artifact;
        }
    });
}

/// `root` as a zstd tarball at `tarball` (numeric owners).
pub fn archive(root: &Path, tarball: &Path) -> Result<(), String> {
    archive_without(root, tarball, &[])
}

/// [`archive`], leaving out what matches `exclude` (tar patterns).
fn archive_without(root: &Path, tarball: &Path, exclude: &[String]) -> Result<(), String> {
    if let Some(dir) = tarball.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let out = Command::new("tar")
        .arg("--zstd")
        .arg("-cf")
        .arg(tarball)
        .arg("--numeric-owner")
        .args(exclude.iter().map(|e| format!("--exclude={e}")))
        .arg("-C")
        .arg(root)
        .arg(".")
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The SHA-256 of a file, in hex.
fn digest(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
