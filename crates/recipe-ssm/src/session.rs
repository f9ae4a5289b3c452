//! A session on one managed node (an EC2 builder, or a WorkSpace registered through a hybrid
//! activation): the baked steps (with retries), large payloads uploaded in chunks first, the
//! first-boot runner, the tests, the cleanup preset and reboots, each sent once through SSM Run
//! Command and waited for on the shared poller.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ssm::types::CommandInvocationStatus;
use recipe_aws::{AwsError, Context, Poller};
use recipe_engine::{ActionError, ActionScope, BoxFuture, ErrorClass, Events};
use recipe_loader::LoadedRecipe;
use recipe_model::{Os, Stage, Step};
use recipe_plan::BuildValues;

use crate::{poll, render};

/// What a provider's sessions share: the poller, the poll interval, the nodes whose agent was seen
/// online, and the managed node found on each builder.
pub struct Nodes {
    /// The shared poller.
    pub poller: Arc<Poller>,
    /// The poll interval (re-sends back off by it).
    pub poll: Duration,
    /// Managed nodes whose agent was seen online.
    online: Mutex<HashSet<String>>,
    /// The managed node (`mi-…`) found on each builder registered through a hybrid activation.
    on_builder: Mutex<HashMap<String, String>>,
}

impl Nodes {
    /// Nothing seen yet; waits poll every `poll`.
    pub fn new(poll: Duration) -> Nodes {
        Nodes {
            poller: Poller::new(poll),
            poll,
            online: Mutex::default(),
            on_builder: Mutex::default(),
        }
    }

    fn builders(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.on_builder
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The managed node on `builder`, registered through the activation named for it: found once,
    /// then remembered (`None` while nothing has registered).
    pub async fn on_builder(
        &self,
        ssm: &aws_sdk_ssm::Client,
        builder: &str,
    ) -> Result<Option<String>, ActionError> {
        if let Some(n) = self.builders().get(builder) {
            return Ok(Some(n.clone()));
        }
        let Some(activation) = crate::hybrid::activation_of(ssm, builder).await? else {
            return Ok(None);
        };
        let node = crate::hybrid::node_of(ssm, &activation).await?;
        if let Some(n) = &node {
            self.builders().insert(builder.to_string(), n.clone());
        }
        Ok(node)
    }

    /// Forget the node on `builder` (it was deregistered).
    pub fn forget(&self, builder: &str) {
        self.builders().remove(builder);
    }
}

/// What the provider knows of its node that SSM does not: whether it can still come online (an EC2
/// builder that is stopped, a WorkSpace that is terminated, never will).
pub trait NodeCheck: Sync {
    /// `Ok` when `node` can run commands once its agent is online; an error naming its state if not.
    fn usable<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), ActionError>>;
}

/// A builder whose agent registered through a hybrid activation (WorkSpaces, AppStream): what a
/// session on it needs to know of it.
pub trait Hybrid: NodeCheck {
    /// The builder's name or id (its activation's default instance name).
    fn builder(&self) -> String;
    /// The builder in words (for "… has no SSM managed node"), and where a person connects to it
    /// (for a gate's instructions).
    fn words(&self, builder: &str) -> (String, String);
}

/// One action's session on one node.
pub struct Session<'a> {
    /// SSM in the node's region.
    pub ssm: aws_sdk_ssm::Client,
    /// The shared poller.
    pub poller: &'a Arc<Poller>,
    /// The node's region.
    pub region: &'a str,
    /// The managed node: `i-…` or `mi-…`.
    pub node: String,
    /// The recipe whose steps run.
    pub recipe: &'a LoadedRecipe,
    /// The build's placeholder values.
    pub values: BuildValues,
    /// The action, for events and command keys.
    pub action: usize,
    /// Where progress goes.
    pub events: &'a Events,
    /// The poll interval (re-sends back off by it).
    pub poll: Duration,
    /// Nodes whose agent was seen online (shared by the provider's actions).
    pub agents: &'a Mutex<HashSet<String>>,
    /// The provider's view of the node.
    pub check: &'a dyn NodeCheck,
    commands: Commands,
    /// Gates of this action passed in earlier applies, and how to reach the node (for a gate's
    /// instructions).
    gates: Gates,
    /// The resolved base image, for the version file.
    base: Option<String>,
    /// Ctrl-C: no step is sent once it is cancelled.
    cancel: recipe_engine::CancelToken,
}

/// The `manual` gates an action meets, in order.
#[derive(Default)]
struct Gates {
    passed: usize,
    /// When the last passed gate was shown (its `timeout` counts from then).
    last_shown: Option<jiff::Timestamp>,
    seen: std::sync::atomic::AtomicUsize,
    connect: String,
}

impl<'a> Session<'a> {
    /// The session of action `s` on the managed node registered for the builder `b` through its
    /// hybrid activation.
    pub async fn on_hybrid<'s: 'a>(
        s: &'a ActionScope<'s>,
        ssm: aws_sdk_ssm::Client,
        nodes: &'a Nodes,
        b: &'a dyn Hybrid,
    ) -> Result<Session<'a>, ActionError> {
        let builder = b.builder();
        let (what, connect) = b.words(&builder);
        let node = nodes.on_builder(&ssm, &builder).await?.ok_or_else(|| {
            ActionError::fatal(format!("{what} has no SSM managed node: its activation is gone; apply again to start a new build"))
        })?;
        Ok(Session::for_action(s, ssm, nodes, node, b, connect))
    }

    /// The session of action `s` on `node`, which `connect` tells a person how to reach (for a
    /// gate's instructions): its recipe, build values, events, Ctrl-C, earlier gates and base come
    /// from the action's scope; the poller and the agents seen online from the provider's [`Nodes`].
    pub fn for_action<'s: 'a>(
        s: &'a ActionScope<'s>,
        ssm: aws_sdk_ssm::Client,
        nodes: &'a Nodes,
        node: String,
        check: &'a dyn NodeCheck,
        connect: impl Into<String>,
    ) -> Session<'a> {
        let shown = s.cx.gates_shown(s.a.id);
        Session {
            ssm,
            poller: &nodes.poller,
            region: &s.home,
            node,
            recipe: s.r,
            values: s.values(),
            action: s.a.id,
            events: &s.cx.events,
            poll: nodes.poll,
            agents: &nodes.online,
            check,
            commands: Commands::default(),
            gates: Gates {
                passed: shown.count,
                last_shown: shown.last,
                connect: connect.into(),
                ..Gates::default()
            },
            base: s.inputs.base(s.name).map(str::to_string),
            cancel: s.cx.cancel.clone(),
        }
    }

    /// A `manual` step: passed if an earlier apply stopped at it, otherwise the apply stops here
    /// with what to do and where.
    fn gate(&self, label: &str, m: &recipe_model::Manual) -> Result<(), ActionError> {
        let n = self
            .gates
            .seen
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n + 1 == self.gates.passed {
            self.expired(label, m)?;
        }
        if n < self.gates.passed {
            self.events.output(
                self.action,
                label,
                "gate passed (the apply that stopped here was followed by this one)",
            );
            return Ok(());
        }
        let within = m.timeout.as_ref().map_or(String::new(), |t| {
            format!(" within {} (a later apply releases the builder)", t.value)
        });
        Err(ActionError::paused(format!(
            "{label}: {}\n  where: {}\n  then: run `recipe apply` again{within}; it goes on from this gate (the builder is kept meanwhile)",
            m.instructions.value.trim(),
            self.gates.connect
        )))
    }

    /// A gate's `timeout` counts from when it was shown: an apply that resumes later fails the
    /// build (its builder is released), since nobody acted in time.
    fn expired(&self, label: &str, m: &recipe_model::Manual) -> Result<(), ActionError> {
        let (Some(timeout), Some(shown)) = (m.timeout.as_ref(), self.gates.last_shown) else {
            return Ok(());
        };
        let limit =
            jiff::SignedDuration::from_secs(i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX));
        let waited = jiff::Timestamp::now().duration_since(shown);
        if waited <= limit {
            return Ok(());
        }
        Err(ActionError::fatal(format!(
            "{label}: the gate was shown at {shown:.0} and its timeout ({}) passed before this apply; the builder is released. Run `recipe apply` again to build afresh, and act on the gate within the timeout",
            timeout.value
        )))
    }

    fn os(&self) -> Os {
        self.recipe.recipe.os.value
    }

    fn windows(&self) -> bool {
        self.os() == Os::Windows
    }

    /// Commands need the agent: the first script on a node waits for it to come online. A node that
    /// cannot come online fails at once, naming its state.
    async fn agent_online(&self, node: &str) -> Result<(), ActionError> {
        let seen = || {
            self.agents
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(node)
        };
        if seen() {
            return Ok(());
        }
        self.check.usable(node).await?;
        self.events.waiting(
            self.action,
            format!("the SSM agent on {node} to come online"),
        );
        poll::wait_agent(self.on(self.ssm.clone()), node).await?;
        self.agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(node.to_string());
        Ok(())
    }
}

/// The commands an action sends, each named in its comment by a key: the build, the action and the
/// command's place in the action (`recipe:<build>:<action>:<n>`). An action is retried, or resumed
/// after a crash, from its start, and sends the same commands in the same order; before sending one,
/// it looks for an earlier command with the same key on the builder and waits for that one (or takes
/// its result) instead. So a retried `run-steps` never sends a second command while the first may
/// still run, and a step that finished is not run again.
#[derive(Default)]
struct Commands {
    next: std::sync::atomic::AtomicU32,
    earlier: tokio::sync::OnceCell<BTreeMap<String, Earlier>>,
}

/// A command sent before: its id.
#[derive(Clone)]
struct Earlier {
    id: String,
}

/// SSM's limit on a command's comment.
const COMMENT_MAX: usize = 100;

/// `key label`, cut to SSM's limit on a character boundary.
fn comment(key: &str, label: &str) -> String {
    let mut c = format!("{key} {label}");
    if c.len() > COMMENT_MAX {
        let mut end = COMMENT_MAX;
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        c.truncate(end);
    }
    c
}

/// The last five lines of a command's output, on one line.
fn tail(out: &str, err: &str) -> String {
    let all = format!("{out}{err}");
    let mut lines: Vec<&str> = all.lines().rev().take(5).collect();
    lines.reverse();
    lines.join(" | ")
}

impl Session<'_> {
    /// Where a wait on this node's region asks, with `ssm`.
    fn on(&self, ssm: aws_sdk_ssm::Client) -> recipe_aws::On<'_, aws_sdk_ssm::Client> {
        recipe_aws::On {
            poller: self.poller,
            region: self.region,
            client: ssm,
        }
    }

    /// The next command's key (see [`Commands`]).
    fn command_key(&self) -> String {
        let n = self
            .commands
            .next
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let build = self.values.clone().build_id;
        format!("recipe:{build}:{}:{n}", self.action)
    }

    /// The command an earlier attempt or run of this action sent under `key` to `instance`, if any.
    /// The builder's commands are listed once per action run.
    async fn earlier_command(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<Earlier>, ActionError> {
        let earlier = self
            .commands
            .earlier
            .get_or_try_init(|| self.list_commands(instance))
            .await?;
        Ok(earlier.get(key).cloned())
    }

    /// The builder's commands that carry a key, by key.
    async fn list_commands(
        &self,
        instance: &str,
    ) -> Result<BTreeMap<String, Earlier>, ActionError> {
        let mut found = BTreeMap::new();
        let mut pages = self
            .ssm
            .list_command_invocations()
            .instance_id(instance)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.ctx("ssm", "ListCommandInvocations")?;
            for inv in page.command_invocations() {
                let key = inv.comment().and_then(|c| c.split(' ').next());
                if let (Some(key), Some(id)) = (key, inv.command_id())
                    && key.starts_with("recipe:")
                {
                    let earlier = Earlier { id: id.to_string() };
                    found.insert(key.to_string(), earlier);
                }
            }
        }
        Ok(found)
    }

    /// Run one script on the builder (or wait for the same command an earlier attempt sent); fail
    /// with the output's tail.
    pub async fn run_script(
        &self,
        label: &str,
        script: &str,
        timeout_secs: u64,
    ) -> Result<(), ActionError> {
        let instance = self.node.clone();
        self.agent_online(&instance).await?;
        let key = self.command_key();
        if let Some(earlier) = self.earlier_command(&instance, &key).await? {
            self.events.waiting(
                self.action,
                format!("{label} on {instance} (sent by an earlier attempt)"),
            );
            let ssm = self.ssm.clone();
            poll::wait_command(self.on(ssm), &earlier.id).await?;
            return self.command_result(label, &earlier.id, &instance).await;
        }
        let sent = self
            .send_command(&instance, &key, label, script, timeout_secs)
            .await?;
        self.events
            .waiting(self.action, format!("{label} on {instance}"));
        let ssm = self.ssm.clone();
        poll::wait_command(self.on(ssm), &sent.id).await?;
        self.command_result(label, &sent.id, &instance).await
    }

    /// Send a command once. SendCommand has no client token, so the SDK does not retry it: a 5xx
    /// may come after the command was accepted (its answer lost). On a retryable error the builder's
    /// commands are listed, and one carrying this key is taken as sent; otherwise it is sent again.
    async fn send_command(
        &self,
        instance: &str,
        key: &str,
        label: &str,
        script: &str,
        timeout_secs: u64,
    ) -> Result<Earlier, ActionError> {
        let document = if self.windows() {
            "AWS-RunPowerShellScript"
        } else {
            "AWS-RunShellScript"
        };
        let timeout = i32::try_from(timeout_secs.clamp(30, 172_800)).unwrap_or(3600);
        let script = if self.windows() {
            script.to_string()
        } else {
            render::in_bash(script)
        };
        let mut attempt = 0;
        loop {
            let sent = self
                .ssm
                .send_command()
                .document_name(document)
                .instance_ids(instance)
                .parameters("commands", vec![script.clone()])
                // TimeoutSeconds bounds delivery only; executionTimeout bounds the run (the
                // AWS-RunShellScript and AWS-RunPowerShellScript documents, at most 172800).
                .parameters("executionTimeout", vec![timeout.to_string()])
                .timeout_seconds(timeout)
                .comment(comment(key, label))
                .customize()
                .config_override(
                    aws_sdk_ssm::config::Config::builder()
                        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled()),
                )
                .send()
                .await
                .ctx("ssm", "SendCommand");
            let err = match sent {
                Ok(out) => {
                    let id = out.command().and_then(|c| c.command_id());
                    let id = id
                        .filter(|i| !i.is_empty())
                        .ok_or_else(|| AwsError::missing("ssm", "SendCommand", "CommandId"))?;
                    let id = id.to_string();
                    return Ok(Earlier { id });
                }
                Err(e) => ActionError::from(e),
            };
            attempt += 1;
            if !err.class.retryable() || attempt >= 4 {
                return Err(err);
            }
            if let Some(found) = self.list_commands(instance).await?.remove(key) {
                return Ok(found);
            }
            recipe_engine::idle(tokio::time::sleep(self.poll * attempt)).await;
        }
    }

    /// Read a finished command's result once; its output goes to the events.
    async fn command_result(
        &self,
        label: &str,
        id: &str,
        instance: &str,
    ) -> Result<(), ActionError> {
        let mut first = true;
        loop {
            if !first {
                recipe_engine::idle(tokio::time::sleep(self.poll)).await;
            }
            first = false;
            let got = self
                .ssm
                .get_command_invocation()
                .command_id(id)
                .instance_id(instance)
                .send()
                .await
                .ctx("ssm", "GetCommandInvocation");
            let inv = match got {
                Ok(i) => i,
                Err(e) => match ActionError::from(e) {
                    e if !e.class.retryable() => return Err(e),
                    _ => continue,
                },
            };
            let out = inv.standard_output_content().unwrap_or("");
            let err = inv.standard_error_content().unwrap_or("");
            match inv.status() {
                s if poll::in_flight(s) => continue,
                Some(CommandInvocationStatus::Success) => {
                    self.output(label, out);
                    return Ok(());
                }
                other => {
                    self.output(label, out);
                    self.output(label, err);
                    let other = other.map_or("no status", CommandInvocationStatus::as_str);
                    return Err(ActionError::fatal(format!(
                        "{label}: {other} (exit {}): {}",
                        inv.response_code(),
                        tail(out, err)
                    )));
                }
            }
        }
    }

    fn output(&self, label: &str, text: &str) {
        for line in text.lines() {
            self.events.output(self.action, label, line);
        }
    }

    /// Run one of the actions a session runs by itself, the same for every provider whose builder SSM
    /// reaches: steps, reboots, the launch-stage installer, tests, cleanup, the version file.
    pub async fn run(&self, kind: &recipe_plan::ActionKind) -> Result<(), ActionError> {
        use recipe_plan::ActionKind as K;
        match kind {
            K::RunSteps { indices, .. } => self.run_steps(indices, false).await,
            K::Reboot => self.reboot().await,
            K::InstallFirstBoot { .. } => self.install_first_boot().await,
            K::RunTests { .. } => {
                let all: Vec<usize> = (0..self.recipe.tests.len()).collect();
                self.run_steps(&all, true).await
            }
            K::Cleanup { .. } => self.cleanup().await,
            K::VersionFile { fingerprint, .. } => self.write_version_file(fingerprint).await,
            other => Err(ActionError::fatal(format!(
                "a session does not run `{}`",
                other.name()
            ))),
        }
    }

    /// The steps (or tests) at `indices`, each with its retries.
    pub async fn run_steps(&self, indices: &[usize], tests: bool) -> Result<(), ActionError> {
        let files = render::files_of(self.recipe);
        let list = if tests {
            &self.recipe.tests
        } else {
            &self.recipe.steps
        };
        for (n, &i) in indices.iter().enumerate() {
            let Some(s) = list.get(i) else { continue };
            let kind = if tests { "test" } else { "step" };
            if self.cancel.is_cancelled() {
                return Err(ActionError::fatal(format!(
                    "interrupted: {} {kind}(s) not sent, from `{}` on",
                    indices.len() - n,
                    recipe_plan::step_label(s)
                )));
            }
            let upload = format!("{kind}-{}-{i}", self.recipe.recipe.name.value);
            self.run_step(s, &files, &upload).await?;
        }
        Ok(())
    }

    async fn run_step(
        &self,
        s: &recipe_loader::ResolvedStep,
        files: &BTreeMap<String, Vec<u8>>,
        upload: &str,
    ) -> Result<(), ActionError> {
        let label = recipe_plan::step_label(s);
        if let Step::Manual(m) = &s.step.value {
            return self.gate(&label, m);
        }
        let common = s.step.common();
        let timeout = common
            .and_then(|c| c.timeout())
            .map_or(3600, |t| t.as_secs());
        let retries = common.and_then(|c| c.retries()).map_or(0, |n| n.value);
        let values = self.values.clone();
        let mut attempt = 0;
        loop {
            // Uploaded again on a retry: the step deletes its upload once used.
            let staged = self.stage(&s.step.value, files, upload, true).await?;
            let script =
                match render::step_script(&s.step.value, self.recipe, files, &staged, &values) {
                    Ok(Some(script)) => script,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(ActionError::fatal(format!("{label}: {e}"))),
                };
            match self.run_script(&label, &script, timeout).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < retries && e.class == ErrorClass::Fatal => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Upload a step's payload to the builder first when it is too large to inline in the step's
    /// command; the map says where it went (empty when it is inlined).
    async fn stage(
        &self,
        step: &Step,
        files: &BTreeMap<String, Vec<u8>>,
        name: &str,
        consume: bool,
    ) -> Result<BTreeMap<String, render::Staged>, ActionError> {
        let mut staged = BTreeMap::new();
        let Some((path, bytes)) = render::payload(step, files) else {
            return Ok(staged);
        };
        if bytes.len() <= render::INLINE_LIMIT {
            return Ok(staged);
        }
        let os = self.os();
        let target = render::stage_path(os, name);
        let uploads = render::upload_scripts(os, &target, bytes);
        let n = uploads.len();
        for (k, script) in uploads.iter().enumerate() {
            let label = format!("upload {path} ({}/{n})", k + 1);
            self.run_script(&label, script, 300).await?;
        }
        let at = render::Staged {
            path: target,
            consume,
        };
        staged.insert(path.to_string(), at);
        Ok(staged)
    }

    /// Reboot the node through the agent (exit 3010 on Windows, 194 on Linux: the agent reboots the
    /// node, then runs the script again, which ends it) and wait for the command.
    pub async fn reboot(&self) -> Result<(), ActionError> {
        let token = format!("{}-{}", self.values.build_id, self.action);
        let script = render::reboot_script(self.os(), &token);
        self.run_script("reboot", &script, 600).await
    }

    /// Send a script that ends its own machine (sysprep with shutdown), once under its key, without
    /// waiting: such a command does not reliably report Success, so the caller waits for the
    /// machine instead and asks [`Session::failed`] on the way. The command's id.
    pub async fn start_script(
        &self,
        label: &str,
        script: &str,
        timeout_secs: u64,
    ) -> Result<String, ActionError> {
        let instance = self.node.clone();
        self.agent_online(&instance).await?;
        let key = self.command_key();
        if let Some(earlier) = self.earlier_command(&instance, &key).await? {
            return Ok(earlier.id);
        }
        let sent = self
            .send_command(&instance, &key, label, script, timeout_secs)
            .await?;
        Ok(sent.id)
    }

    /// An error if command `id` has ended other than in Success (its output's tail); `Ok(true)`
    /// once it succeeded, `Ok(false)` while it runs (or cannot be read now).
    pub async fn failed(&self, label: &str, id: &str) -> Result<bool, ActionError> {
        let got = self
            .ssm
            .get_command_invocation()
            .command_id(id)
            .instance_id(&self.node)
            .send()
            .await
            .ctx("ssm", "GetCommandInvocation");
        let Ok(inv) = got else { return Ok(false) };
        match inv.status() {
            Some(CommandInvocationStatus::Success) => Ok(true),
            s if poll::in_flight(s) => Ok(false),
            other => {
                let (out, err) = (
                    inv.standard_output_content().unwrap_or(""),
                    inv.standard_error_content().unwrap_or(""),
                );
                self.output(label, out);
                self.output(label, err);
                let other = other.map_or("no status", CommandInvocationStatus::as_str);
                Err(ActionError::fatal(format!(
                    "{label}: {other} (exit {}): {}",
                    inv.response_code(),
                    tail(out, err)
                )))
            }
        }
    }

    /// The launch-stage steps, rendered into the first-boot runner (AppStream: session scripts).
    pub async fn install_first_boot(&self) -> Result<(), ActionError> {
        let files = render::files_of(self.recipe);
        let values = self.values.clone();
        let mut scripts = Vec::new();
        let launch = self.recipe.steps.iter().enumerate();
        for (i, s) in launch.filter(|(_, s)| s.stage == Stage::Launch) {
            // Large payloads stay on the builder, so in the image, for first boot.
            let upload = format!("first-boot-{i}");
            let staged = self.stage(&s.step.value, &files, &upload, false).await?;
            let script = render::step_script(&s.step.value, self.recipe, &files, &staged, &values)
                .map_err(ActionError::fatal)?;
            scripts.extend(script);
        }
        let installer =
            render::launch_installer(&scripts, self.os(), self.recipe.recipe.target.value);
        self.run_script("install the first-boot runner", &installer, 300)
            .await
    }

    /// Run the recipe's cleanup preset, if it has one.
    pub async fn cleanup(&self) -> Result<(), ActionError> {
        let Some(preset) = &self.recipe.recipe.cleanup else {
            return Ok(());
        };
        let label = format!("cleanup ({})", preset.as_str());
        let script = render::cleanup_script(preset.value, self.os());
        self.run_script(&label, &script, 1800).await
    }

    /// The image's version file: which recipe, version and build made it, at which fingerprint,
    /// from which base, and when (no secret: only names and ids).
    pub async fn write_version_file(&self, fingerprint: &str) -> Result<(), ActionError> {
        let record =
            render::version_record(self.recipe, &self.values, fingerprint, self.base.as_deref());
        let script = render::version_file_script(self.os(), &record);
        self.run_script("version file", &script, 300).await
    }
}
