//! Sandbox machines: Linux instances backed by a real root filesystem on local disk.
//!
//! With [`MachineConfig`] set (the sandbox sets it), an instance launched from an image that has a
//! root ([`root_for`]) gets its own copy of that root. The SSM commands it is sent really run in it,
//! under bubblewrap, as `AWS-RunShellScript` runs them on a node: the commands in a `_script.sh` run by
//! `/bin/sh`, output truncated to 24,000 characters, exit code 194 to reboot after the command (AWS
//! Systems Manager User Guide, "Rebooting managed nodes from scripts"), `executionTimeout` enforced
//! with status TimedOut. CreateImage snapshots the root as a compressed tarball with a manifest and a
//! digest; an instance launched from that image gets its own copy and boots it: cloud-init's
//! per-instance scripts run at the first boot of each instance id, per-boot scripts at every boot.
//!
//! The work runs on one worker thread, outside the world's lock: handlers queue [`Job`]s, the server
//! hands them over after each request, and the worker writes outcomes back. What it does not model:
//! kernels, services that need systemd as PID 1, Windows (docs/sandbox.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::server::Shared;

/// Where machines live, and where base roots are cached.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    /// Machine roots (`<dir>/<instance>`) and captured artifacts (`<dir>/artifacts`).
    pub dir: PathBuf,
    /// Base roots built once per machine (`mmdebstrap` output).
    pub cache: PathBuf,
    /// The endpoint's own address (`host:port`), for the machines' `aws` (set when it listens).
    pub(crate) endpoint: Option<String>,
}

impl MachineConfig {
    /// Under `dir`, with the per-user cache (`$XDG_CACHE_HOME/recipe/sandbox`, or
    /// `~/.cache/recipe/sandbox`).
    pub fn under(dir: PathBuf) -> MachineConfig {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| dir.join("cache"))
            .join("recipe/sandbox");
        MachineConfig {
            dir,
            cache,
            endpoint: None,
        }
    }
}

/// Where a root filesystem comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RootSource {
    /// Debian built by `mmdebstrap --variant=minbase <suite>`, cached per machine.
    Debian {
        /// The suite, e.g. `bookworm`.
        suite: String,
    },
    /// A tarball the user named (an exported container, for example).
    Tarball {
        /// Its path.
        path: String,
    },
    /// An image captured in the sandbox.
    Artifact {
        /// The tarball.
        path: String,
    },
}

impl RootSource {
    fn label(&self) -> String {
        match self {
            RootSource::Debian { suite } => format!("debian {suite} (mmdebstrap minbase)"),
            RootSource::Tarball { path } => format!("tarball {path}"),
            RootSource::Artifact { path } => format!("artifact {path}"),
        }
    }
}

/// The one place a base image maps to a sandbox root (docs/sandbox.md): Debian's public AMIs to a
/// Debian root of their suite; any image to the tarball named by `RECIPE_SANDBOX_ROOT_<PREFIX>`
/// when its name starts with `<prefix>` (e.g. `RECIPE_SANDBOX_ROOT_AL2023=/path/al2023.tar` for
/// `al2023-ami-…`); a captured sandbox image to its artifact.
pub fn root_for(image_name: &str, artifact: Option<&str>) -> Option<RootSource> {
    if let Some(path) = artifact {
        return Some(RootSource::Artifact { path: path.into() });
    }
    let name = image_name.to_lowercase().replace([' ', '_'], "-");
    for (key, value) in std::env::vars() {
        let Some(prefix) = key.strip_prefix("RECIPE_SANDBOX_ROOT_") else {
            continue;
        };
        let prefix = prefix.to_lowercase().replace('_', "-");
        if !prefix.is_empty() && name.starts_with(&prefix) {
            return Some(RootSource::Tarball { path: value });
        }
    }
    DEBIAN_SUITES
        .iter()
        .find(|(name, _)| image_name.starts_with(name))
        .map(|(_, suite)| RootSource::Debian {
            suite: (*suite).into(),
        })
}

/// The folder (and artifact) name of a machine or image key (AppStream keys hold `/`).
pub fn folder_of(key: &str) -> String {
    key.replace('/', "_")
}

/// The root of a public base image named by its SSM parameter (what `recipe try` starts from).
pub fn root_for_parameter(param: &str) -> Option<RootSource> {
    let amazon = crate::ec2::PUBLIC_IMAGES.iter().map(|(p, n, _)| (*p, *n));
    let debian = crate::ec2::DEBIAN_IMAGES.iter().copied();
    let (_, name) = amazon.chain(debian).find(|(p, _)| *p == param)?;
    root_for(name, None)
}

/// Debian's public AMI names (`debian-<release>-<arch>-…`) and their suites.
const DEBIAN_SUITES: &[(&str, &str)] = &[
    ("debian-12-amd64", "bookworm"),
    ("debian-13-amd64", "trixie"),
];

/// One command a machine ran, for the manifest of an image captured from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ran {
    /// The command id.
    pub command: String,
    /// Its comment (the step it runs, as the provider labels it).
    pub comment: String,
    /// Success, Failed or TimedOut.
    pub status: String,
    /// The exit code.
    pub code: i64,
}

/// A machine: an instance's root filesystem.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    /// Its root folder.
    pub root: String,
    /// Where the root came from.
    pub source: String,
    /// The root is in place (commands wait for it).
    pub ready: bool,
    /// Why it could not be made (then commands are not executed, and say so).
    pub error: Option<String>,
    /// How many times it booted.
    pub boots: u32,
    /// The commands it ran, in order.
    pub ran: Vec<Ran>,
    /// Its removal is queued (its builder is gone).
    pub released: bool,
}

/// Work for the machine worker.
#[derive(Clone, Debug)]
pub enum Job {
    /// Make the instance's root, then boot it.
    Provision {
        /// The instance.
        instance: String,
        /// Where its root comes from.
        source: RootSource,
    },
    /// Run one command's script in the instance's root.
    Run {
        /// The command id.
        command: String,
        /// The machine (an instance, or a WorkSpace).
        instance: String,
        /// The target the invocation names (the instance, or the WorkSpace's managed node).
        target: String,
        /// The joined `commands` parameter.
        script: String,
        /// `executionTimeout`, in seconds.
        timeout_secs: u64,
    },
    /// Snapshot the instance's root as the image's artifact.
    Capture {
        /// The image.
        image: String,
        /// The instance.
        instance: String,
        /// What image creation leaves out (tar patterns, `./`-rooted).
        exclude: Vec<String>,
    },
    /// The instance was started again: boot its root (per-boot scripts; per-instance ones ran).
    Boot {
        /// The instance.
        instance: String,
    },
    /// The instance is terminated: remove its root.
    Remove {
        /// The instance.
        instance: String,
    },
}

impl Job {
    /// The instance the job is about: each instance's jobs run in order, instances in parallel.
    fn instance(&self) -> &str {
        match self {
            Job::Provision { instance, .. }
            | Job::Run { instance, .. }
            | Job::Capture { instance, .. }
            | Job::Boot { instance }
            | Job::Remove { instance } => instance,
        }
    }
}

/// The worker: one thread per instance, each running that instance's jobs in order, until the
/// sender is dropped; then it waits for them all.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    config: MachineConfig,
) -> (std::sync::mpsc::Sender<Job>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let handle = std::thread::spawn(move || {
        let mut lanes: std::collections::HashMap<String, std::sync::mpsc::Sender<Job>> =
            std::collections::HashMap::new();
        let mut threads = Vec::new();
        for job in rx {
            let key = job.instance().to_string();
            let done = matches!(job, Job::Remove { .. });
            let lane = lanes.entry(key.clone()).or_insert_with(|| {
                let (ltx, lrx) = std::sync::mpsc::channel::<Job>();
                let (shared, config) = (Arc::clone(&shared), config.clone());
                threads.push(std::thread::spawn(move || {
                    for j in lrx {
                        crate::machine_jobs::run(&shared, &config, j);
                    }
                }));
                ltx
            });
            let _ = lane.send(job);
            if done {
                lanes.remove(&key);
            }
        }
        drop(lanes);
        for t in threads {
            let _ = t.join();
        }
    });
    (tx, handle)
}

/// Inside a machine: the folder of the sandbox's `aws` (first on PATH).
const SANDBOX_BIN: &str = "/run/recipe-sandbox/bin";

/// `aws` on a sandbox machine: the call recipe's rendered steps make on a builder
/// (`ssm get-parameter` for `${secret.…}`), answered by the sandbox endpoint for this machine's
/// account and region, as the instance role and the AWS CLI answer it on EC2. Bash only (its
/// `/dev/tcp`), so it works on a minimal root. Other calls say they are not served.
const AWS_SHIM: &str = r#"#!/bin/bash
# aws, as a recipe sandbox machine has it (docs/sandbox.md).
set -euo pipefail
service="${1:-}"; op="${2:-}"; shift 2 || true
name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --name|--secret-id) name="$2"; shift 2 ;;
    --query|--output|--region) shift 2 ;;
    *) shift ;;
  esac
done
case "$service $op" in
  "ssm get-parameter") target=AmazonSSM.GetParameter; op_name=GetParameter; field=Value; member=Name; extra=',"WithDecryption":true' ;;
  "secretsmanager get-secret-value") target=secretsmanager.GetSecretValue; op_name=GetSecretValue; field=SecretString; member=SecretId; extra='' ;;
  *) echo "aws (recipe sandbox): '$service $op' is not served here; the sandbox answers 'ssm get-parameter' and 'secretsmanager get-secret-value'" >&2; exit 2 ;;
esac
esc=${name//\\/\\\\}; esc=${esc//\"/\\\"}
body="{\"$member\":\"$esc\"$extra}"
len=$(printf %s "$body" | LC_ALL=C wc -c)
exec 3<>"/dev/tcp/@HOST@/@PORT@"
printf 'POST / HTTP/1.1\r\nHost: @HOST@:@PORT@\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: %s\r\nAuthorization: AWS4-HMAC-SHA256 Credential=@ACCOUNT@/20260101/@REGION@/%s/aws4_request, SignedHeaders=host, Signature=sandbox\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$target" "$service" "$len" "$body" >&3
resp=$(cat <&3)
status=$(printf %s "$resp" | head -n1 | cut -d' ' -f2)
payload=${resp#*$'\r\n\r\n'}
if [ "$status" != 200 ]; then
  echo "An error occurred when calling the $op_name operation: $payload" >&2
  exit 254
fi
value=$(printf %s "$payload" | sed -n "s/.*\"$field\":\"\\(\\([^\"\\\\]\\|\\\\.\\)*\\)\".*/\\1/p")
value=${value//\\\"/\"}; value=${value//\\\//\/}
printf '%b\n' "$value"
"#;

/// The `aws` of a machine of `account` in `region`, for the endpoint at `endpoint` (`host:port`).
pub(crate) fn aws_shim(endpoint: &str, account: &str, region: &str) -> String {
    let (host, port) = endpoint.rsplit_once(':').unwrap_or((endpoint, "80"));
    AWS_SHIM
        .replace("@HOST@", host)
        .replace("@PORT@", port)
        .replace("@ACCOUNT@", account)
        .replace("@REGION@", region)
}

/// Inside a machine: the host's trust store, so HTTPS works wherever the host's does (through a
/// proxy with its own CA, say), as the host's network and DNS do.
const HOST_CA: &str = "/run/recipe-sandbox/ca-certificates.crt";

/// The host's CA bundle: `SSL_CERT_FILE`, or Debian's bundle.
fn host_ca() -> Option<String> {
    let named = std::env::var("SSL_CERT_FILE").ok();
    let candidates = named
        .into_iter()
        .chain(["/etc/ssl/certs/ca-certificates.crt".to_string()]);
    candidates.into_iter().find(|p| Path::new(p).is_file())
}

/// The bubblewrap command that runs `argv` in `root`, sharing the host's network, DNS and trust
/// store, with its own PID, IPC and host name, `/run` on a tmpfs (as on a booted system), and a
/// clean environment.
pub(crate) fn in_root(root: &Path, hostname: &str, argv: &[&str]) -> Command {
    in_root_with(root, hostname, &[], argv)
}

/// [`in_root`], with host files mounted read-only inside (`(host path, path inside)`).
pub(crate) fn in_root_with(
    root: &Path,
    hostname: &str,
    binds: &[(&Path, &str)],
    argv: &[&str],
) -> Command {
    let mut c = Command::new("bwrap");
    c.arg("--bind").arg(root).arg("/");
    c.args(["--proc", "/proc", "--dev", "/dev"])
        .args(["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"])
        .args(["--tmpfs", "/run"])
        .args(["--unshare-pid", "--unshare-ipc", "--unshare-uts"])
        .args(["--die-with-parent", "--hostname", hostname, "--clearenv"])
        .args(["--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8"]);
    let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    // A machine's own `aws` (written at provisioning, beside its root) comes first.
    match root.parent().map(|m| m.join("bin")).filter(|b| b.is_dir()) {
        Some(bin) => {
            c.arg("--ro-bind").arg(bin).arg(SANDBOX_BIN);
            c.args(["--setenv", "PATH", &format!("{SANDBOX_BIN}:{path}")]);
        }
        None => {
            c.args(["--setenv", "PATH", path]);
        }
    }
    // After --clearenv: bubblewrap applies the environment options in order.
    if let Some(ca) = host_ca() {
        c.args(["--ro-bind", &ca, HOST_CA]);
        for var in [
            "CURL_CA_BUNDLE",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "AWS_CA_BUNDLE",
        ] {
            c.args(["--setenv", var, HOST_CA]);
        }
    }
    for (host, inside) in binds {
        c.arg("--ro-bind").arg(host).arg(inside);
    }
    c.args(["--chdir", "/"]).args(argv).stdin(Stdio::null());
    c
}

/// Run `c` to the end or until `timeout`, with stdout and stderr in files under `out` (read back
/// afterwards). Returns the exit code (`None`: timed out and killed).
pub(crate) fn run_bounded(
    mut c: Command,
    out: &Path,
    timeout: Duration,
) -> std::io::Result<(Option<i32>, String, String)> {
    std::fs::create_dir_all(out)?;
    let (so, se) = (out.join("stdout"), out.join("stderr"));
    c.stdout(std::fs::File::create(&so)?)
        .stderr(std::fs::File::create(&se)?);
    let mut child = c.spawn()?;
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status.code().unwrap_or(-1));
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ok((code, read(&so), read(&se)))
}

impl Machine {
    /// A machine for `instance` under `dir`, from `source`, not yet in place.
    pub fn new(dir: &Path, instance: &str, source: &RootSource) -> Machine {
        Machine {
            root: dir
                .join(folder_of(instance))
                .join("root")
                .to_string_lossy()
                .into_owned(),
            source: source.label(),
            ..Machine::default()
        }
    }
}

/// A new instance from `image` gets a machine when machines are on and the image has a root.
pub(crate) fn attach(w: &mut crate::world::World, instance: &str, image: &crate::ec2::Image) {
    let Some(dir) = w.machine_dir.clone() else {
        return;
    };
    let Some(source) = root_for(&image.name, image.artifact.as_deref()) else {
        return;
    };
    w.machines
        .insert(instance.to_string(), Machine::new(&dir, instance, &source));
    w.jobs.push(Job::Provision {
        instance: instance.to_string(),
        source,
    });
}

/// CreateImage of an instance with a machine: the image waits for its artifact.
pub(crate) fn capture(w: &mut crate::world::World, image: &str, instance: &str) {
    if !w.machines.contains_key(instance) {
        return;
    }
    if let Some(img) = w.ec2.images.get_mut(image) {
        img.capturing = true;
        img.source_instance = Some(instance.to_string());
    }
    w.jobs.push(Job::Capture {
        image: image.to_string(),
        instance: instance.to_string(),
        exclude: Vec::new(),
    });
}

/// What WorkSpaces image creation removes from an Amazon Linux WorkSpace, and the keys it shreds
/// (WorkSpaces Administration Guide, "Create a custom WorkSpaces image and bundle", Image Creation
/// for Amazon Linux WorkSpaces): the folders' contents and the files, as tar patterns.
pub const WORKSPACES_LINUX_REMOVED: &[&str] = &[
    "./tmp/*",
    "./var/spool/mail/*",
    "./var/mail/*",
    "./var/tmp/*",
    "./var/lib/dhcp/*",
    "./var/lib/cloud/*",
    "./var/cache/*",
    "./var/backups/*",
    "./etc/sudoers.d/*",
    "./etc/udev/rules.d/70-persistent-net.rules",
    "./etc/network/interfaces.d/50-cloud-init.cfg",
    "./etc/security/access.conf",
    "./var/log/amazon/ssm/*",
    "./var/log/pcoip-agent/*",
    "./var/log/skylight/*",
    "./var/lock/.skylight.domain-join.lock",
    "./var/lib/skylight/domain-join-status",
    "./var/lib/skylight/configuration-data",
    "./var/lib/skylight/config-data.json",
    "./home/*",
    "./etc/ssh/ssh_host_*_key",
    "./etc/ssh/ssh_host_*_key.pub",
    "./var/lib/skylight/tls.*",
    "./var/lib/skylight/private.key",
    "./var/lib/skylight/public.key",
];

/// A Linux WorkSpace gets a machine, keyed by its id, when a node registers on it and its image
/// has a root (a `RECIPE_SANDBOX_ROOT_…` tarball, or an image captured in the sandbox). Commands
/// sent to the node run on it ([`machine_of`]).
pub(crate) fn attach_workspace(w: &mut crate::world::World, workspace: &str) {
    let Some(dir) = w.machine_dir.clone() else {
        return;
    };
    if w.machines.contains_key(workspace) {
        return;
    }
    let Some((name, artifact)) = w.workspaces.image_of(workspace) else {
        return;
    };
    let Some(source) = root_for(&name, artifact.as_deref()) else {
        return;
    };
    w.machines.insert(
        workspace.to_string(),
        Machine::new(&dir, workspace, &source),
    );
    w.jobs.push(Job::Provision {
        instance: workspace.to_string(),
        source,
    });
}

/// The machine a command sent to `target` runs on: an instance's own, or the WorkSpace's under a
/// managed node.
pub(crate) fn machine_of(w: &crate::world::World, target: &str) -> Option<String> {
    if w.machines.contains_key(target) {
        return Some(target.to_string());
    }
    let node = w.ssm.nodes.get(target)?;
    [&node.workspace_id, &node.image_builder]
        .into_iter()
        .find(|k| !k.is_empty() && w.machines.contains_key(*k))
        .cloned()
}

/// CreateWorkspaceImage of a WorkSpace with a machine: the image waits for its artifact, made as
/// WorkSpaces makes the image (without what [`WORKSPACES_LINUX_REMOVED`] lists).
pub(crate) fn capture_workspace(w: &mut crate::world::World, image: &str, workspace: &str) {
    if !w.machines.contains_key(workspace) {
        return;
    }
    if let Some(img) = w.workspaces.images.get_mut(image) {
        img.capturing = true;
    }
    w.jobs.push(Job::Capture {
        image: image.to_string(),
        instance: workspace.to_string(),
        exclude: WORKSPACES_LINUX_REMOVED
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
    });
}

/// A Linux AppStream image builder gets a machine, keyed by the builder, when a node registers on
/// it and its base image has a root (a `RECIPE_SANDBOX_ROOT_…` tarball for its name, such as
/// `RECIPE_SANDBOX_ROOT_APPSTREAM_AMAZONLINUX2`, or an image captured in the sandbox).
pub(crate) fn attach_builder(w: &mut crate::world::World, builder: &str) {
    let Some(dir) = w.machine_dir.clone() else {
        return;
    };
    let Some(b) = w.appstream.builders.get(builder) else {
        return;
    };
    let name = b
        .image_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let artifact = (w.appstream.images.values())
        .find(|i| i.arn == b.image_arn)
        .and_then(|i| i.artifact.clone());
    if w.machines.contains_key(builder) {
        return;
    }
    let Some(source) = root_for(&name, artifact.as_deref()) else {
        return;
    };
    w.machines
        .insert(builder.to_string(), Machine::new(&dir, builder, &source));
    w.jobs.push(Job::Provision {
        instance: builder.to_string(),
        source,
    });
}

/// The Image Assistant's `create-image` on a builder with a machine: the image (key `image`) waits
/// for its artifact.
pub(crate) fn capture_builder(w: &mut crate::world::World, builder: &str, image: &str) {
    if !w.machines.contains_key(builder) {
        return;
    }
    if let Some(img) = w.appstream.images.get_mut(image) {
        img.capturing = true;
    }
    w.jobs.push(Job::Capture {
        image: image.to_string(),
        instance: builder.to_string(),
        exclude: Vec::new(),
    });
}

/// Machines of AppStream builders that are deleted go with them (checked at each tick: the
/// AppStream handlers change builders without the world's machines at hand).
pub(crate) fn release_gone_builders(w: &mut crate::world::World) {
    let gone: Vec<String> = (w.machines.iter())
        .filter(|(k, m)| k.contains('/') && !m.released)
        .filter(|(k, _)| (w.appstream.builders.get(*k)).is_none_or(|b| b.state == "DELETING"))
        .map(|(k, _)| k.clone())
        .collect();
    for instance in gone {
        if let Some(m) = w.machines.get_mut(&instance) {
            m.released = true;
        }
        w.jobs.push(Job::Remove { instance });
    }
}

/// A terminated WorkSpace's machine goes with it.
pub(crate) fn release_workspace(w: &mut crate::world::World, workspace: &str) {
    if w.machines.contains_key(workspace) {
        w.jobs.push(Job::Remove {
            instance: workspace.to_string(),
        });
    }
}

/// At start, with the world loaded from disk: captures still owed are queued again (their roots are
/// on disk); commands that were running when the last process stopped are ended as Failed, as an
/// agent that died mid-command leaves them.
pub(crate) fn resume(w: &mut crate::world::World) -> Vec<Job> {
    if w.machine_dir.is_none() {
        return Vec::new();
    }
    for cmd in w.ssm.commands.values_mut() {
        for inv in cmd.invocations.iter_mut().filter(|i| i.exec) {
            inv.exec = false;
            inv.status = "Failed".into();
            inv.final_status = "Failed".into();
            inv.response_code = -1;
            inv.stderr = "[sandbox] the sandbox stopped while the command ran\n".into();
        }
    }
    let owed: Vec<(String, String)> = (w.ec2.images.values())
        .filter(|i| i.capturing)
        .filter_map(|i| Some((i.id.clone(), i.source_instance.clone()?)))
        .collect();
    owed.into_iter()
        .map(|(image, instance)| Job::Capture {
            image,
            instance,
            exclude: Vec::new(),
        })
        .collect()
}
