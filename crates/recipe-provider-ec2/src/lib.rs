//! The EC2 AMI provider.
//!
//! Implements the engine's [`Runner`] for every action of an `ec2-ami` recipe: resolve the base (SSM
//! parameter, filters, image id, or the parent recipe's image), launch a builder (IMDSv2 required,
//! tagged with the recipe and build), run the steps through SSM Run Command, install the first-boot
//! runner, run tests and the cleanup preset, sysprep Windows, capture, wait (coalesced poller), tag,
//! copy to regions (called in the destination, idempotent client token), share, deprecate, retire,
//! and terminate the builder. Also the planner's [`Observer`]: bases and tagged images.
//!
//! Every resource it creates carries `recipe:name`, `recipe:version`, `recipe:build-id` and
//! `recipe:fingerprint` tags, so state can be rebuilt and orphans found.

mod poll;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, LaunchPermission, LaunchPermissionModifications, ResourceType, Tag, TagSpecification,
};
use recipe_engine::{ActionError, ErrorClass, Outcome, Runner};
use recipe_loader::{LoadedRecipe, RecipeSet};
use recipe_model::{Base, Os, Step};
use recipe_plan::{Action, ActionKind, Observations, ObserveError, ObservedImage, Observer, Plan};
use recipe_state::RecipeState;

pub use aws_sdk_ec2 as sdk;
pub use aws_sdk_ec2::config::Credentials;
pub use poll::{Poller, WaitError};
pub use render::BuildValues;

/// An EC2 client configuration for a region.
pub fn ec2_config(sdk: &aws_config::SdkConfig, region: &str) -> aws_sdk_ec2::Config {
    aws_sdk_ec2::config::Builder::from(sdk)
        .region(aws_sdk_ec2::config::Region::new(region.to_string()))
        .build()
}

/// An EC2 client.
pub fn ec2_client(conf: aws_sdk_ec2::Config) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(conf)
}

/// A resource that failed is fatal; polling that could not tell is transient (the action is retried).
impl From<WaitError> for ActionError {
    fn from(e: WaitError) -> ActionError {
        match e {
            WaitError::Failed(why) => ActionError::fatal(why),
            WaitError::Polling(why) => ActionError {
                class: ErrorClass::Transient,
                message: why,
            },
        }
    }
}

/// A line of builder output: recipe, step label, text.
pub type LogSink = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// What a running action is waiting on: action id, then a short phrase ("ami-0abc to become
/// available"), for the progress view and the JSON event stream.
pub type StatusSink = Arc<dyn Fn(usize, &str) + Send + Sync>;

/// Classify an SDK error for the engine's retry policy.
pub fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_ec2::error::SdkError<E>,
) -> ActionError {
    use aws_sdk_ec2::error::SdkError;
    let (code, message, status) = match e {
        SdkError::ServiceError(se) => (
            se.err().code().unwrap_or("").to_string(),
            se.err().message().unwrap_or("").to_string(),
            se.raw().status().as_u16(),
        ),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return ActionError {
                class: ErrorClass::Transient,
                message: format!("{e:?}"),
            };
        }
        other => return ActionError::fatal(format!("{other:?}")),
    };
    let class = if matches!(
        code.as_str(),
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" | "TooManyRequestsException"
    ) {
        ErrorClass::Throttling
    } else if code.ends_with(".NotFound")
        && (code.starts_with("InvalidAMIID")
            || code.starts_with("InvalidInstanceID")
            || code.starts_with("InvalidSnapshot"))
    {
        ErrorClass::EventualConsistency
    } else if status >= 500
        || code == "InternalError"
        || code == "InternalServerError"
        || code == "ServiceUnavailable"
    {
        ErrorClass::Transient
    } else if code == "InvocationDoesNotExist" || code == "InvalidInstanceId" {
        // SSM: an invocation not registered yet, an agent not online yet.
        ErrorClass::EventualConsistency
    } else {
        ErrorClass::Fatal
    };
    ActionError {
        class,
        message: if message.is_empty() {
            code
        } else {
            format!("{code}: {message}")
        },
    }
}

/// The snapshots behind an image.
async fn snapshots_of(
    client: &aws_sdk_ec2::Client,
    image: &str,
) -> Result<Vec<String>, ActionError> {
    let d = client
        .describe_images()
        .image_ids(image)
        .send()
        .await
        .map_err(|e| classify(&e))?;
    Ok(d.images()
        .first()
        .map(|i| {
            i.block_device_mappings()
                .iter()
                .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

/// A DescribeX filter.
fn filter<S: AsRef<str>>(name: &str, values: &[S]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(
            values.iter().map(|v| v.as_ref().to_string()).collect(),
        ))
        .build()
}

/// The value of tag `key`, if present.
fn tag_value(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

/// Instance states that hold on to their image.
const LIVE_INSTANCE: &[&str] = &["pending", "running", "stopping", "stopped"];

/// Which of `images` (in the client's region) are in use, and by what: instances that are not
/// terminated, and the `$Default` or `$Latest` version of any launch template.
pub async fn images_in_use(
    client: &aws_sdk_ec2::Client,
    images: &[String],
) -> Result<BTreeMap<String, Vec<String>>, ActionError> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if images.is_empty() {
        return Ok(users);
    }
    for chunk in images.chunks(200) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let mut token = None;
        loop {
            let out = client
                .describe_instances()
                .filters(filter("image-id", &ids))
                .filters(filter("instance-state-name", LIVE_INSTANCE))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(&e))?;
            for i in out.reservations().iter().flat_map(|r| r.instances()) {
                if let (Some(img), Some(id)) = (i.image_id(), i.instance_id()) {
                    users
                        .entry(img.to_string())
                        .or_default()
                        .push(format!("instance {id}"));
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    let mut token = None;
    loop {
        let out = client
            .describe_launch_template_versions()
            .versions("$Default")
            .versions("$Latest")
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        for v in out.launch_template_versions() {
            let Some(img) = v.launch_template_data().and_then(|d| d.image_id()) else {
                continue;
            };
            if images.iter().any(|x| x == img) {
                let who = format!(
                    "launch template {} (version {})",
                    v.launch_template_name().unwrap_or("?"),
                    v.version_number().unwrap_or_default()
                );
                let list = users.entry(img.to_string()).or_default();
                if !list.contains(&who) {
                    list.push(who);
                }
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(users)
}

/// Tag a builder kept for debugging (`--keep-on-error`) with `recipe:keep=debug`, so that sweeps
/// leave it alone.
pub async fn mark_kept(client: &aws_sdk_ec2::Client, instance: &str) -> Result<(), ActionError> {
    client
        .create_tags()
        .resources(instance)
        .tags(Tag::builder().key("recipe:keep").value("debug").build())
        .send()
        .await
        .map_err(|e| classify(&e))?;
    Ok(())
}

/// A recipe whose leftovers a sweep looks for, and where.
#[derive(Clone, Debug)]
pub struct SweepScope {
    /// The recipe's name (its `recipe:name` tag).
    pub recipe: String,
    /// Its build region and distribution regions.
    pub regions: Vec<String>,
}

/// What a sweep removed, and what it could not.
#[derive(Clone, Debug, Default)]
pub struct Swept {
    /// `recipe: instance (build)` of each builder terminated.
    pub builders: Vec<String>,
    /// `recipe: image in region (build)` of each image deregistered.
    pub images: Vec<String>,
    /// What could not be looked at or removed.
    pub problems: Vec<String>,
}

/// Terminate, in one call, the builders in `region` of these recipes whose build is not `current`
/// and that are not kept for debugging.
async fn sweep_builders(
    client: &aws_sdk_ec2::Client,
    region: &str,
    names: &[&str],
    current: &BTreeSet<String>,
    swept: &mut Swept,
) {
    let found = match client
        .describe_instances()
        .filters(filter("tag:recipe:role", &["builder"]))
        .filters(filter("tag:recipe:name", names))
        .filters(filter("instance-state-name", LIVE_INSTANCE))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return swept.problems.push(format!(
                "builders in {region} could not be listed: {}",
                classify(&e).message
            ));
        }
    };
    // (instance, recipe, build)
    let stray: Vec<(String, String, String)> = found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            let tag = |k: &str| tag_value(i.tags(), k);
            let build = tag("recipe:build-id").unwrap_or_default();
            if current.contains(&build) || tag("recipe:keep").is_some() {
                return None;
            }
            let recipe = tag("recipe:name").unwrap_or_default();
            Some((i.instance_id()?.to_string(), recipe, build))
        })
        .collect();
    if stray.is_empty() {
        return;
    }
    let ids: Vec<String> = stray.iter().map(|(id, _, _)| id.clone()).collect();
    match client
        .terminate_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
    {
        Ok(_) => swept.builders.extend(
            stray
                .iter()
                .map(|(id, recipe, build)| format!("{recipe}: {id} ({build})")),
        ),
        Err(e) => swept.problems.push(format!(
            "the builders {} could not be terminated: {}",
            ids.join(", "),
            classify(&e).message
        )),
    }
}

/// Deregister the images in `region` of `abandoned` builds of these recipes that state does not
/// record, with their snapshots.
async fn sweep_images(
    client: &aws_sdk_ec2::Client,
    region: &str,
    names: &[&str],
    abandoned: &BTreeSet<String>,
    recorded: &BTreeSet<String>,
    swept: &mut Swept,
) {
    let builds: Vec<&str> = abandoned.iter().map(String::as_str).collect();
    let found = match client
        .describe_images()
        .owners("self")
        .filters(filter("tag:recipe:build-id", &builds))
        .filters(filter("tag:recipe:name", names))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            return swept.problems.push(format!(
                "images in {region} could not be listed: {}",
                classify(&e).message
            ));
        }
    };
    for img in found.images() {
        let Some(id) = img.image_id() else { continue };
        if recorded.contains(id) {
            continue;
        }
        let tag = |k: &str| tag_value(img.tags(), k).unwrap_or_default();
        // DeregisterImage takes one image.
        match client
            .deregister_image()
            .image_id(id)
            .delete_associated_snapshots(true)
            .send()
            .await
        {
            Ok(_) => swept.images.push(format!(
                "{}: {id} in {region} ({})",
                tag("recipe:name"),
                tag("recipe:build-id")
            )),
            Err(e) => swept.problems.push(format!(
                "the image {id} in {region} could not be deregistered: {}",
                classify(&e).message
            )),
        }
    }
}

/// Remove what runs that were killed (and not resumed) left behind, found by their tags:
/// - builders (`recipe:role=builder`) of these recipes whose build is not in `current` (the builds
///   this apply runs or resumes), unless kept for debugging (`recipe:keep`);
/// - images of `abandoned` builds (those of an interrupted apply that will not be resumed) that
///   state does not record (`recorded` image ids), with their snapshots.
///
/// Images of other unknown builds are never touched: they may belong to state kept elsewhere.
pub async fn sweep_orphans(
    sdk: &aws_config::SdkConfig,
    scopes: &[SweepScope],
    current: &BTreeSet<String>,
    abandoned: &BTreeSet<String>,
    recorded: &BTreeSet<String>,
) -> Swept {
    let mut swept = Swept::default();
    let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in scopes {
        for r in &s.regions {
            by_region.entry(r).or_default().push(&s.recipe);
        }
    }
    for (region, names) in by_region {
        let client = ec2_client(ec2_config(sdk, region));
        sweep_builders(&client, region, &names, current, &mut swept).await;
        if !abandoned.is_empty() {
            sweep_images(&client, region, &names, abandoned, recorded, &mut swept).await;
        }
    }
    swept
}

/// The provider for one apply.
pub struct Ec2Provider {
    recipes: BTreeMap<String, LoadedRecipe>,
    state: BTreeMap<String, RecipeState>,
    sdk: aws_config::SdkConfig,
    clients: Mutex<HashMap<String, (aws_sdk_ec2::Client, aws_sdk_ssm::Client)>>,
    poller: Arc<Poller>,
    values: BTreeMap<String, BuildValues>,
    default_region: String,
    poll: Duration,
    log: LogSink,
    status: StatusSink,
    /// Builders whose SSM agent was seen online.
    agents: Mutex<HashSet<String>>,
}

/// How the provider polls and where output goes.
#[derive(Clone)]
pub struct ProviderOptions {
    /// Region for recipes without `builder.region`.
    pub default_region: String,
    /// Poll interval for instances, commands and images.
    pub poll: Duration,
    /// Where step output goes.
    pub log: LogSink,
    /// Where "waiting on" notes go.
    pub status: StatusSink,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key(recipe: &str, what: &str) -> String {
    format!("{recipe}/{what}")
}

impl Ec2Provider {
    /// A provider for the `ec2-ami` recipes of a plan.
    pub fn new(
        set: &RecipeSet,
        plan: &Plan,
        state: BTreeMap<String, RecipeState>,
        sdk: aws_config::SdkConfig,
        opts: ProviderOptions,
    ) -> Self {
        let recipes = set
            .recipes
            .iter()
            .map(|r| (r.recipe.name.value.clone(), r.clone()))
            .collect();
        let now = plan.created_at;
        let values = plan
            .recipes
            .iter()
            .filter_map(|rp| rp.build.as_ref().map(|b| (rp.recipe.clone(), b)))
            .map(|(name, b)| {
                (
                    name,
                    BuildValues {
                        timestamp: now.strftime("%Y%m%d%H%M%S").to_string(),
                        date: now.strftime("%Y-%m-%d").to_string(),
                        build_id: b.build_id.clone(),
                    },
                )
            })
            .collect();
        Ec2Provider {
            recipes,
            state,
            sdk,
            clients: Mutex::new(HashMap::new()),
            poller: Poller::new(opts.poll),
            values,
            default_region: opts.default_region,
            poll: opts.poll,
            log: opts.log,
            status: opts.status,
            agents: Mutex::new(HashSet::new()),
        }
    }

    fn clients(&self, region: &str) -> (aws_sdk_ec2::Client, aws_sdk_ssm::Client) {
        let mut c = lock(&self.clients);
        c.entry(region.to_string())
            .or_insert_with(|| {
                let ec2 = aws_sdk_ec2::config::Builder::from(&self.sdk)
                    .region(aws_sdk_ec2::config::Region::new(region.to_string()))
                    .build();
                let ssm = aws_sdk_ssm::config::Builder::from(&self.sdk)
                    .region(aws_sdk_ssm::config::Region::new(region.to_string()))
                    .build();
                (
                    aws_sdk_ec2::Client::from_conf(ec2),
                    aws_sdk_ssm::Client::from_conf(ssm),
                )
            })
            .clone()
    }

    fn recipe(&self, name: &str) -> Result<&LoadedRecipe, ActionError> {
        self.recipes
            .get(name)
            .ok_or_else(|| ActionError::fatal(format!("recipe `{name}` is not loaded")))
    }

    fn home(&self, r: &LoadedRecipe) -> String {
        r.recipe
            .builder
            .region
            .as_ref()
            .map_or_else(|| self.default_region.clone(), |n| n.value.clone())
    }

    fn values(&self, recipe: &str) -> BuildValues {
        self.values.get(recipe).cloned().unwrap_or(BuildValues {
            timestamp: String::new(),
            date: String::new(),
            build_id: String::new(),
        })
    }

    fn tags(&self, r: &LoadedRecipe, fingerprint: &str) -> Vec<Tag> {
        let v = self.values(&r.recipe.name);
        let mut tags: BTreeMap<String, String> = BTreeMap::from([
            ("recipe:name".into(), r.recipe.name.value.clone()),
            ("recipe:version".into(), r.recipe.version.value.clone()),
            ("recipe:build-id".into(), v.build_id.clone()),
            ("Name".into(), v.apply(&r.recipe.image.name)),
            ("Version".into(), r.recipe.version.value.clone()),
        ]);
        if !fingerprint.is_empty() {
            tags.insert("recipe:fingerprint".into(), fingerprint.to_string());
        }
        for (k, val) in &r.recipe.image.tags {
            tags.insert(k.value.clone(), v.apply(val));
        }
        tags.into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    /// Deregister an image that failed (or is abandoned) and delete its snapshots, so nothing is left.
    async fn discard_image(&self, region: &str, id: &str) -> String {
        let (client, _) = self.clients(region);
        match client
            .deregister_image()
            .image_id(id)
            .delete_associated_snapshots(true)
            .send()
            .await
        {
            Ok(_) => format!("{id} was deregistered and its snapshots deleted"),
            Err(e) => format!(
                "{id} could not be deregistered ({}); deregister it by hand",
                classify(&e).message
            ),
        }
    }

    /// Wait for an image; if it fails, discard it and say so.
    async fn wait_image(
        &self,
        id: usize,
        region: &str,
        client: &aws_sdk_ec2::Client,
        image: &str,
    ) -> Result<(), ActionError> {
        (self.status)(id, &format!("{image} in {region} to become available"));
        match self
            .poller
            .wait_available(region, client.clone(), image)
            .await
        {
            Ok(()) => Ok(()),
            // Only an image that failed is discarded; one we could not poll may still be fine, and
            // the retried action waits for it again.
            Err(WaitError::Failed(why)) => {
                let gone = self.discard_image(region, image).await;
                Err(ActionError::fatal(format!("{why}; {gone}")))
            }
            Err(WaitError::Polling(why)) => Err(ActionError {
                class: ErrorClass::Transient,
                message: format!("{image} in {region}: {why}"),
            }),
        }
    }

    /// Run one script on the builder; fail with the output's tail.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call shape for every script on a builder"
    )]
    async fn run_script(
        &self,
        r: &LoadedRecipe,
        action: usize,
        region: &str,
        instance: &str,
        label: &str,
        script: &str,
        timeout_secs: u64,
    ) -> Result<(), ActionError> {
        let (_, ssm) = self.clients(region);
        // Commands need the agent: the first script on a builder waits for it to come online.
        if !lock(&self.agents).contains(instance) {
            (self.status)(
                action,
                &format!("the SSM agent on {instance} to come online"),
            );
            self.poller
                .wait_agent(region, ssm.clone(), instance)
                .await
                .map_err(ActionError::from)?;
            lock(&self.agents).insert(instance.to_string());
        }
        let sent_at =
            aws_sdk_ssm::primitives::DateTime::from_secs(jiff::Timestamp::now().as_second());
        let document = if r.recipe.os.value == Os::Windows {
            "AWS-RunPowerShellScript"
        } else {
            "AWS-RunShellScript"
        };
        let sent = ssm
            .send_command()
            .document_name(document)
            .instance_ids(instance)
            .parameters("commands", vec![script.to_string()])
            .timeout_seconds(i32::try_from(timeout_secs.clamp(30, 172_800)).unwrap_or(3600))
            .comment(format!("recipe {}: {label}", r.recipe.name.value))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let id = sent
            .command()
            .and_then(|c| c.command_id())
            .unwrap_or_default()
            .to_string();
        (self.status)(action, &format!("{label} on {instance}"));
        self.poller
            .wait_command(region, ssm.clone(), &id, sent_at)
            .await
            .map_err(ActionError::from)?;
        let mut first = true;
        loop {
            if !first {
                tokio::time::sleep(self.poll).await;
            }
            first = false;
            let inv = match ssm
                .get_command_invocation()
                .command_id(&id)
                .instance_id(instance)
                .send()
                .await
            {
                Ok(i) => i,
                Err(e) => {
                    let err = classify(&e);
                    if err.class == ErrorClass::Fatal {
                        return Err(err);
                    }
                    continue;
                }
            };
            let status = inv
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            match status.as_str() {
                "Pending" | "InProgress" | "Delayed" | "Cancelling" => continue,
                "Success" => {
                    for line in inv.standard_output_content().unwrap_or("").lines() {
                        (self.log)(&r.recipe.name, label, line);
                    }
                    return Ok(());
                }
                other => {
                    let out = inv.standard_output_content().unwrap_or("");
                    let err = inv.standard_error_content().unwrap_or("");
                    for line in out.lines().chain(err.lines()) {
                        (self.log)(&r.recipe.name, label, line);
                    }
                    let tail: String = format!("{out}{err}")
                        .lines()
                        .rev()
                        .take(5)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join(" | ");
                    return Err(ActionError::fatal(format!(
                        "{label}: {other} (exit {}): {tail}",
                        inv.response_code()
                    )));
                }
            }
        }
    }

    fn files_of(r: &LoadedRecipe) -> BTreeMap<String, Vec<u8>> {
        // Keyed by the path as written in the step; matched to the loaded file by its resolved suffix.
        let mut out = BTreeMap::new();
        for s in r.steps.iter().chain(&r.tests) {
            let path = match &s.step.value {
                Step::Script(x) => &x.path.value,
                Step::File(x) => &x.src.value,
                _ => continue,
            };
            let wanted = path.trim_start_matches("./").replace("../", "");
            if let Some(f) = r
                .files
                .iter()
                .find(|f| f.path.to_string_lossy().ends_with(&wanted))
            {
                out.insert(path.clone(), f.bytes.to_vec());
            }
        }
        out
    }

    async fn run_steps(
        &self,
        r: &LoadedRecipe,
        action: usize,
        region: &str,
        instance: &str,
        indices: &[usize],
        tests: bool,
    ) -> Result<(), ActionError> {
        let files = Self::files_of(r);
        let values = self.values(&r.recipe.name);
        let list = if tests { &r.tests } else { &r.steps };
        for &i in indices {
            let Some(s) = list.get(i) else { continue };
            let label = recipe_plan::step_label(s);
            let common = s.step.common();
            let timeout = common
                .and_then(|c| c.timeout())
                .map_or(3600, |t| t.as_secs());
            let retries = common.and_then(|c| c.retries()).map_or(0, |n| n.value);
            let mut attempt = 0;
            let name = format!(
                "{}-{}-{i}",
                if tests { "test" } else { "step" },
                r.recipe.name.value
            );
            loop {
                // Uploaded again on a retry: the step deletes its upload once used.
                let staged = self
                    .stage(
                        r,
                        action,
                        region,
                        instance,
                        &s.step.value,
                        &files,
                        &name,
                        true,
                    )
                    .await?;
                let script = match render::step_script(&s.step.value, r, &files, &staged, &values) {
                    Ok(Some(script)) => script,
                    Ok(None) => break,
                    Err(e) => return Err(ActionError::fatal(format!("{label}: {e}"))),
                };
                match self
                    .run_script(r, action, region, instance, &label, &script, timeout)
                    .await
                {
                    Ok(()) => break,
                    Err(e) if attempt < retries && e.class == ErrorClass::Fatal => attempt += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Upload a step's payload to the builder first when it is too large to inline in the step's
    /// command; the map says where it went (empty when it is inlined).
    #[expect(
        clippy::too_many_arguments,
        reason = "the step, where it runs, and what it uploads"
    )]
    async fn stage(
        &self,
        r: &LoadedRecipe,
        action: usize,
        region: &str,
        instance: &str,
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
        let os = r.recipe.os.value;
        let target = render::stage_path(os, name);
        let uploads = render::upload_scripts(os, &target, bytes);
        let n = uploads.len();
        for (k, script) in uploads.iter().enumerate() {
            self.run_script(
                r,
                action,
                region,
                instance,
                &format!("upload {path} ({}/{n})", k + 1),
                script,
                300,
            )
            .await?;
        }
        staged.insert(
            path.to_string(),
            render::Staged {
                path: target,
                consume,
            },
        );
        Ok(staged)
    }

    fn principal_permission(principal: &str) -> LaunchPermission {
        if principal.contains(":ou/") {
            LaunchPermission::builder()
                .organizational_unit_arn(principal)
                .build()
        } else if principal.contains(":organization/") {
            LaunchPermission::builder()
                .organization_arn(principal)
                .build()
        } else {
            LaunchPermission::builder().user_id(principal).build()
        }
    }

    fn image_in(&self, recipe: &str, inputs: &Outcome, region: &str) -> Option<String> {
        inputs
            .get(&key(recipe, &format!("image-id:{region}")))
            .cloned()
            .or_else(|| {
                self.state
                    .get(recipe)
                    .and_then(|s| s.current())
                    .and_then(|v| v.images.get(region))
                    .map(|i| i.image_id.clone())
            })
    }

    async fn act(&self, a: &Action, inputs: &Outcome) -> Result<Outcome, ActionError> {
        let r = self.recipe(&a.recipe)?;
        let name = r.recipe.name.value.as_str();
        let home = self.home(r);
        let (ec2, ssm) = self.clients(&home);
        let mut out = Outcome::new();
        let instance = inputs
            .get(&key(name, "instance-id"))
            .cloned()
            .unwrap_or_default();
        match &a.action {
            ActionKind::ResolveBase => {
                let base = match &r.recipe.base.value {
                    Base::SsmParameter(p) => ssm
                        .get_parameter()
                        .name(&p.value)
                        .send()
                        .await
                        .map_err(|e| classify(&e))?
                        .parameter()
                        .and_then(|p| p.value())
                        .unwrap_or_default()
                        .to_string(),
                    Base::ImageId(id) => id.value.clone(),
                    Base::AmiFilter(f) => {
                        let mut req = ec2.describe_images();
                        for (k, v) in &f.filters {
                            req = req.filters(Filter::builder().name(k).values(&v.value).build());
                        }
                        for o in &f.owners {
                            req = req.owners(&o.value);
                        }
                        let found = req.send().await.map_err(|e| classify(&e))?;
                        let mut images: Vec<_> = found.images().iter().filter(|i| i.state().map(|s| s.as_str()) == Some("available")).collect();
                        if images.len() > 1 && !f.most_recent {
                            return Err(ActionError::fatal(format!("{} images match the filters; set `most-recent: true` or narrow them", images.len())));
                        }
                        images.sort_by_key(|i| i.creation_date().unwrap_or("").to_string());
                        images.last().and_then(|i| i.image_id()).ok_or_else(|| ActionError::fatal("no available image matches the filters"))?.to_string()
                    }
                    Base::Recipe(parent) => self
                        .image_in(&parent.value, inputs, &home)
                        .ok_or_else(|| ActionError::fatal(format!("the parent recipe `{}` has no image in {home}; add {home} to its distribute.regions", parent.value)))?,
                    other => return Err(ActionError::fatal(format!("an ec2-ami recipe cannot start from a {} base", other.kind()))),
                };
                if base.is_empty() {
                    return Err(ActionError::fatal("the base resolved to nothing"));
                }
                out.insert(key(name, "base"), base);
            }
            ActionKind::LaunchBuilder => {
                let base = inputs
                    .get(&key(name, "base"))
                    .cloned()
                    .ok_or_else(|| ActionError::fatal("no resolved base"))?;
                let v = self.values(name);
                let b = &r.recipe.builder;
                let mut req = ec2
                    .run_instances()
                    .image_id(&base)
                    .instance_type(aws_sdk_ec2::types::InstanceType::from(
                        b.instance_type
                            .as_ref()
                            .map_or("t3.small", |t| t.value.as_str()),
                    ))
                    .min_count(1)
                    .max_count(1)
                    .client_token(format!("{}-builder", v.build_id))
                    .metadata_options(
                        aws_sdk_ec2::types::InstanceMetadataOptionsRequest::builder()
                            .http_tokens(aws_sdk_ec2::types::HttpTokensState::Required)
                            .http_endpoint(
                                aws_sdk_ec2::types::InstanceMetadataEndpointState::Enabled,
                            )
                            .build(),
                    )
                    .iam_instance_profile(
                        aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                            .name(
                                b.instance_profile
                                    .as_ref()
                                    .map_or("recipe-builder", |p| p.value.as_str()),
                            )
                            .build(),
                    )
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::Instance)
                            .set_tags(Some(vec![
                                Tag::builder().key("recipe:name").value(name).build(),
                                Tag::builder()
                                    .key("recipe:build-id")
                                    .value(&v.build_id)
                                    .build(),
                                Tag::builder().key("recipe:role").value("builder").build(),
                                Tag::builder()
                                    .key("Name")
                                    .value(format!("recipe builder: {name}"))
                                    .build(),
                            ]))
                            .build(),
                    );
                if let Some(s) = &b.subnet_id {
                    req = req.subnet_id(&s.value);
                }
                for g in &b.security_group_ids {
                    req = req.security_group_ids(&g.value);
                }
                let launched = req.send().await.map_err(|e| classify(&e))?;
                let id = launched
                    .instances()
                    .first()
                    .and_then(|i| i.instance_id())
                    .unwrap_or_default()
                    .to_string();
                (self.status)(a.id, &format!("the builder {id} to run"));
                self.poller
                    .wait_instance(&home, ec2.clone(), &id, "running")
                    .await
                    .map_err(ActionError::from)?;
                out.insert(key(name, "instance-id"), id);
            }
            ActionKind::RunSteps { indices, .. } => {
                self.run_steps(r, a.id, &home, &instance, indices, false)
                    .await?
            }
            ActionKind::Reboot => {
                let script = if r.recipe.os.value == Os::Windows {
                    "Restart-Computer -Force"
                } else {
                    "exit 194"
                };
                self.run_script(r, a.id, &home, &instance, "reboot", script, 600)
                    .await?;
            }
            ActionKind::InstallFirstBoot { .. } => {
                let files = Self::files_of(r);
                let values = self.values(name);
                let mut scripts = Vec::new();
                for (i, s) in r
                    .steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.stage == recipe_model::Stage::Launch)
                {
                    // Large payloads stay on the builder, so in the image, for first boot.
                    let staged = self
                        .stage(
                            r,
                            a.id,
                            &home,
                            &instance,
                            &s.step.value,
                            &files,
                            &format!("first-boot-{i}"),
                            false,
                        )
                        .await?;
                    if let Some(script) =
                        render::step_script(&s.step.value, r, &files, &staged, &values)
                            .map_err(ActionError::fatal)?
                    {
                        scripts.push(script);
                    }
                }
                let installer = render::first_boot_installer(&scripts, r.recipe.os.value);
                self.run_script(
                    r,
                    a.id,
                    &home,
                    &instance,
                    "install the first-boot runner",
                    &installer,
                    300,
                )
                .await?;
            }
            ActionKind::RunTests { .. } => {
                let all: Vec<usize> = (0..r.tests.len()).collect();
                self.run_steps(r, a.id, &home, &instance, &all, true)
                    .await?;
            }
            ActionKind::Cleanup { .. } => {
                if let Some(preset) = &r.recipe.cleanup {
                    let body: Vec<&str> = preset.items().iter().map(|i| i.command).collect();
                    let header = if r.recipe.os.value == Os::Windows {
                        "$ErrorActionPreference = 'Continue'\n"
                    } else {
                        "set -uo pipefail\n"
                    };
                    self.run_script(
                        r,
                        a.id,
                        &home,
                        &instance,
                        &format!("cleanup ({})", preset.as_str()),
                        &format!("{header}{}", body.join("\n")),
                        1800,
                    )
                    .await?;
                }
            }
            ActionKind::Sysprep => {
                let script = "& \"$env:ProgramFiles\\Amazon\\EC2Launch\\EC2Launch.exe\" sysprep --shutdown=true";
                self.run_script(r, a.id, &home, &instance, "sysprep", script, 1800)
                    .await?;
                let _ = ec2.stop_instances().instance_ids(&instance).send().await;
                (self.status)(a.id, &format!("the builder {instance} to stop"));
                self.poller
                    .wait_instance(&home, ec2.clone(), &instance, "stopped")
                    .await
                    .map_err(ActionError::from)?;
            }
            ActionKind::Capture { fingerprint, .. } => {
                let v = self.values(name);
                let image_name = v.apply(&r.recipe.image.name);
                // CreateImage has no client token: after a crash, find the image by name instead.
                let existing = ec2
                    .describe_images()
                    .owners("self")
                    .filters(Filter::builder().name("name").values(&image_name).build())
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                let found = existing.images().first();
                if let Some(other) = found
                    .map(|i| tag_value(i.tags(), "recipe:build-id").unwrap_or_default())
                    .filter(|b| *b != v.build_id)
                {
                    // Same name, another build: never adopt it as this build's image.
                    let from = if other.is_empty() {
                        "not made by recipe".to_string()
                    } else {
                        format!("from build {other}")
                    };
                    return Err(ActionError::fatal(format!(
                        "an image named {image_name} already exists, {from}; make image.name unique per build (add ${{build_id}}, or ${{timestamp}} if two builds never start in the same second)"
                    )));
                }
                let id = match found.and_then(|i| i.image_id()) {
                    Some(id) => id.to_string(),
                    None => {
                        let tags = self.tags(r, fingerprint);
                        ec2.create_image()
                            .instance_id(&instance)
                            .name(&image_name)
                            .description(r.recipe.image.description.as_ref().map_or_else(
                                || format!("recipe {name} {}", r.recipe.version.value),
                                |d| v.apply(d),
                            ))
                            // The snapshots are tagged by the `tag` action once the image is
                            // available (moto cannot tag snapshots at creation).
                            .tag_specifications(
                                TagSpecification::builder()
                                    .resource_type(ResourceType::Image)
                                    .set_tags(Some(tags))
                                    .build(),
                            )
                            .send()
                            .await
                            .map_err(|e| classify(&e))?
                            .image_id()
                            .unwrap_or_default()
                            .to_string()
                    }
                };
                out.insert(key(name, &format!("image-id:{home}")), id);
            }
            ActionKind::WaitAvailable => {
                let id = self
                    .image_in(name, inputs, &home)
                    .ok_or_else(|| ActionError::fatal("no image to wait for"))?;
                self.wait_image(a.id, &home, &ec2, &id).await?;
                let snaps = snapshots_of(&ec2, &id).await?;
                out.insert(key(name, &format!("snapshots:{home}")), snaps.join(","));
            }
            ActionKind::Tag => {
                let id = self
                    .image_in(name, inputs, &home)
                    .ok_or_else(|| ActionError::fatal("no image to tag"))?;
                let snaps = inputs
                    .get(&key(name, &format!("snapshots:{home}")))
                    .cloned()
                    .unwrap_or_default();
                let mut req = ec2
                    .create_tags()
                    .resources(&id)
                    .set_tags(Some(self.tags(r, "")));
                for s in snaps.split(',').filter(|s| !s.is_empty()) {
                    req = req.resources(s);
                }
                req.send().await.map_err(|e| classify(&e))?;
            }
            ActionKind::TerminateBuilder => {
                if !instance.is_empty() {
                    ec2.terminate_instances()
                        .instance_ids(&instance)
                        .send()
                        .await
                        .map_err(|e| classify(&e))?;
                }
            }
            ActionKind::Copy { region } => {
                let source = self
                    .image_in(name, inputs, &home)
                    .ok_or_else(|| ActionError::fatal("no source image to copy"))?;
                let (dest, _) = self.clients(region);
                let v = self.values(name);
                let build = if v.build_id.is_empty() {
                    self.state
                        .get(name)
                        .and_then(|s| s.current())
                        .map(|c| c.build_id.clone())
                        .unwrap_or_default()
                } else {
                    v.build_id.clone()
                };
                let image_name = self
                    .state
                    .get(name)
                    .and_then(|s| s.current())
                    .filter(|_| v.build_id.is_empty())
                    .map(|c| format!("{}-{}", r.recipe.name.value, c.version))
                    .unwrap_or_else(|| v.apply(&r.recipe.image.name));
                let mut req = dest
                    .copy_image()
                    .source_image_id(&source)
                    .source_region(&home)
                    .name(&image_name)
                    .copy_image_tags(true)
                    .client_token(format!("{build}-{region}"));
                if let Some(d) = &r.recipe.distribute {
                    if let Some(k) = d.kms_keys.get(region.as_str()) {
                        req = req.encrypted(true).kms_key_id(&k.value);
                    } else if d.encrypted.as_ref().is_some_and(|e| e.value) {
                        req = req.encrypted(true);
                    }
                }
                let id = req
                    .send()
                    .await
                    .map_err(|e| classify(&e))?
                    .image_id()
                    .unwrap_or_default()
                    .to_string();
                self.wait_image(a.id, region, &dest, &id).await?;
                out.insert(key(name, &format!("image-id:{region}")), id);
            }
            ActionKind::Share { principal, region } | ActionKind::Unshare { principal, region } => {
                let id = self
                    .image_in(name, inputs, region)
                    .ok_or_else(|| ActionError::fatal(format!("no image in {region} to share")))?;
                let (client, _) = self.clients(region);
                let p = Self::principal_permission(principal);
                let m = if matches!(a.action, ActionKind::Share { .. }) {
                    LaunchPermissionModifications::builder().add(p).build()
                } else {
                    LaunchPermissionModifications::builder().remove(p).build()
                };
                client
                    .modify_image_attribute()
                    .image_id(&id)
                    .launch_permission(m)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                // An account also gets createVolumePermission on the snapshots, which it needs to
                // copy the image or make volumes from it. (Snapshots cannot be shared with an
                // organization or OU: those principals copy through the launch permission alone.)
                if principal.chars().all(|c| c.is_ascii_digit()) {
                    let add = matches!(a.action, ActionKind::Share { .. });
                    for snap in snapshots_of(&client, &id).await? {
                        client
                            .modify_snapshot_attribute()
                            .snapshot_id(&snap)
                            .attribute(
                                aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission,
                            )
                            .operation_type(if add {
                                aws_sdk_ec2::types::OperationType::Add
                            } else {
                                aws_sdk_ec2::types::OperationType::Remove
                            })
                            .user_ids(principal)
                            .send()
                            .await
                            .map_err(|e| classify(&e))?;
                    }
                }
            }
            ActionKind::RemoveCopy { region, image_id } => {
                let (client, _) = self.clients(region);
                client
                    .deregister_image()
                    .image_id(image_id)
                    .delete_associated_snapshots(true)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
            }
            ActionKind::Retag {
                tags,
                remove,
                regions,
            } => {
                let version = self
                    .state
                    .get(name)
                    .and_then(|s| s.current())
                    .ok_or_else(|| ActionError::fatal("no current version to retag"))?;
                // Build-time placeholders resolve to the version's own values, as when it was built.
                let v = BuildValues {
                    timestamp: version.created_at.strftime("%Y%m%d%H%M%S").to_string(),
                    date: version.created_at.strftime("%Y-%m-%d").to_string(),
                    build_id: version.build_id.clone(),
                };
                let tags: Vec<Tag> = tags
                    .iter()
                    .map(|(k, val)| Tag::builder().key(k).value(v.apply(val)).build())
                    .collect();
                // The regions the recipe keeps (a copy this plan removes is not tagged); a copy this
                // plan makes comes in `inputs`.
                for region in regions {
                    let Some(id) = self.image_in(name, inputs, region) else {
                        continue;
                    };
                    let (client, _) = self.clients(region);
                    let mut resources = vec![id.clone()];
                    resources.extend(snapshots_of(&client, &id).await?);
                    if !tags.is_empty() {
                        client
                            .create_tags()
                            .set_resources(Some(resources.clone()))
                            .set_tags(Some(tags.clone()))
                            .send()
                            .await
                            .map_err(|e| classify(&e))?;
                    }
                    if !remove.is_empty() {
                        client
                            .delete_tags()
                            .set_resources(Some(resources))
                            .set_tags(Some(
                                remove
                                    .iter()
                                    .map(|k| Tag::builder().key(k).build())
                                    .collect(),
                            ))
                            .send()
                            .await
                            .map_err(|e| classify(&e))?;
                    }
                }
            }
            ActionKind::Deprecate { build_id } | ActionKind::Retire { build_id, .. } => {
                let version = self
                    .state
                    .get(name)
                    .and_then(|s| s.version(build_id))
                    .ok_or_else(|| ActionError::fatal(format!("no recorded version {build_id}")))?;
                if matches!(a.action, ActionKind::Retire { .. }) {
                    // The plan kept versions in use when it was made; check again right before
                    // deregistering, since an instance may have been launched since.
                    for (region, img) in &version.images {
                        let (client, _) = self.clients(region);
                        let users =
                            images_in_use(&client, std::slice::from_ref(&img.image_id)).await?;
                        if let Some(by) = users.get(&img.image_id) {
                            return Err(ActionError::fatal(format!(
                                "{} in {region} is in use by {}: not retired (it is retired by a later apply once nothing uses it)",
                                img.image_id,
                                by.join(", ")
                            )));
                        }
                    }
                }
                for (region, img) in &version.images {
                    let (client, _) = self.clients(region);
                    if matches!(a.action, ActionKind::Deprecate { .. }) {
                        let at = jiff::Timestamp::now().as_second() + 60;
                        client
                            .enable_image_deprecation()
                            .image_id(&img.image_id)
                            .deprecate_at(aws_sdk_ec2::primitives::DateTime::from_secs(at))
                            .send()
                            .await
                            .map_err(|e| classify(&e))?;
                    } else {
                        client
                            .deregister_image()
                            .image_id(&img.image_id)
                            .delete_associated_snapshots(true)
                            .send()
                            .await
                            .map_err(|e| classify(&e))?;
                    }
                }
            }
            ActionKind::Rollout { target } => {
                if let Some(param) = target.strip_prefix("SSM parameter ") {
                    let id = self
                        .image_in(name, inputs, &home)
                        .ok_or_else(|| ActionError::fatal("no image to roll out"))?;
                    ssm.put_parameter()
                        .name(param)
                        .value(&id)
                        .r#type(aws_sdk_ssm::types::ParameterType::String)
                        .data_type("aws:ec2:image")
                        .overwrite(true)
                        .send()
                        .await
                        .map_err(|e| classify(&e))?;
                } else if let Some(template) = target.strip_prefix("launch template ") {
                    let id = self
                        .image_in(name, inputs, &home)
                        .ok_or_else(|| ActionError::fatal("no image to roll out"))?;
                    let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                        .image_id(&id)
                        .build();
                    let version = ec2
                        .create_launch_template_version()
                        .launch_template_name(template)
                        .source_version("$Default")
                        .version_description(format!("recipe {name} {}", r.recipe.version.value))
                        .launch_template_data(data.clone())
                        .send()
                        .await;
                    match version {
                        Ok(v) => {
                            let n = v
                                .launch_template_version()
                                .and_then(|v| v.version_number())
                                .unwrap_or(1);
                            ec2.modify_launch_template()
                                .launch_template_name(template)
                                .default_version(n.to_string())
                                .send()
                                .await
                                .map_err(|e| classify(&e))?;
                        }
                        Err(e) if classify(&e).message.contains("NotFound") => {
                            // The template does not exist yet: create it with the new image.
                            ec2.create_launch_template()
                                .launch_template_name(template)
                                .launch_template_data(data)
                                .send()
                                .await
                                .map_err(|e| classify(&e))?;
                        }
                        Err(e) => return Err(classify(&e)),
                    }
                } else {
                    return Err(ActionError::fatal(format!(
                        "rolling out to {target} is not supported by the EC2 provider yet"
                    )));
                }
            }
            other => {
                return Err(ActionError::fatal(format!(
                    "the EC2 provider does not run `{}` actions",
                    other.name()
                )));
            }
        }
        Ok(out)
    }
}

impl Runner for Ec2Provider {
    fn lane(&self, action: &Action) -> (String, String) {
        let region = match &action.action {
            ActionKind::Copy { region }
            | ActionKind::Share { region, .. }
            | ActionKind::Unshare { region, .. }
            | ActionKind::RemoveCopy { region, .. } => region.clone(),
            _ => self
                .recipes
                .get(&action.recipe)
                .map_or_else(|| self.default_region.clone(), |r| self.home(r)),
        };
        ("ec2".into(), region)
    }

    async fn run(&self, action: &Action, inputs: &Outcome) -> Result<Outcome, ActionError> {
        self.act(action, inputs).await
    }
}

/// The planner's view of EC2: bases resolved, tagged images found.
pub struct Ec2Observer {
    sdk: aws_config::SdkConfig,
    default_region: String,
}

impl Ec2Observer {
    /// An observer with the given AWS configuration.
    pub fn new(sdk: aws_config::SdkConfig, default_region: impl Into<String>) -> Self {
        Ec2Observer {
            sdk,
            default_region: default_region.into(),
        }
    }
}

fn observe_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    e: &aws_sdk_ec2::error::SdkError<E>,
) -> ObserveError {
    ObserveError {
        what: what.into(),
        detail: classify(e).message,
    }
}

impl Ec2Observer {
    /// The value of a recipe's SSM-parameter base.
    async fn ssm_base(
        &self,
        name: &str,
        region: &str,
        param: &str,
    ) -> Result<Option<String>, ObserveError> {
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&self.sdk)
                .region(aws_sdk_ssm::config::Region::new(region.to_string()))
                .build(),
        );
        let v = ssm
            .get_parameter()
            .name(param)
            .send()
            .await
            .map_err(|e| ObserveError {
                what: format!("the base of `{name}`"),
                detail: format!("{e:?}"),
            })?;
        Ok(v.parameter().and_then(|p| p.value()).map(str::to_string))
    }

    /// Who may launch an image: account ids, organization and OU ARNs, `all`.
    async fn launch_permissions(
        client: &aws_sdk_ec2::Client,
        image: &str,
    ) -> Result<BTreeSet<String>, ObserveError> {
        let attr = client
            .describe_image_attribute()
            .image_id(image)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .map_err(|e| observe_error(&format!("the launch permissions of {image}"), &e))?;
        Ok(attr
            .launch_permissions()
            .iter()
            .filter_map(|p| {
                p.user_id()
                    .or(p.organization_arn())
                    .or(p.organizational_unit_arn())
                    .or(p.group().map(|g| g.as_str()))
                    .map(str::to_string)
            })
            .collect())
    }
}

impl Observer for Ec2Observer {
    async fn observe(
        &self,
        recipes: &[&LoadedRecipe],
        state: &BTreeMap<String, RecipeState>,
    ) -> Result<Observations, ObserveError> {
        let mut obs = Observations::default();
        // The recipes to look for in each region (their build region and distribution regions).
        let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in recipes
            .iter()
            .filter(|r| r.recipe.target.value == recipe_model::Target::Ec2Ami)
        {
            let name = r.recipe.name.value.clone();
            let home = r
                .recipe
                .builder
                .region
                .as_ref()
                .map_or_else(|| self.default_region.clone(), |n| n.value.clone());
            if let Base::SsmParameter(p) = &r.recipe.base.value
                && let Some(id) = self.ssm_base(&name, &home, &p.value).await?
            {
                obs.bases.insert(name.clone(), id);
            }
            let mut regions = vec![home.clone()];
            if let Some(d) = &r.recipe.distribute {
                regions.extend(
                    d.regions
                        .iter()
                        .map(|x| x.value.clone())
                        .filter(|x| *x != home),
                );
            }
            for region in regions {
                by_region.entry(region).or_default().push(name.clone());
            }
            obs.images.insert(name.clone(), Vec::new());
            obs.refreshed.insert(name);
        }
        // Per region: one DescribeImages for every recipe there (200 names per filter), and one
        // in-use check for all their images.
        for (region, names) in &by_region {
            let ec2 = ec2_client(ec2_config(&self.sdk, region));
            let mut ids = Vec::new();
            for chunk in names.chunks(200) {
                let found = ec2
                    .describe_images()
                    .owners("self")
                    .filters(
                        Filter::builder()
                            .name("tag:recipe:name")
                            .set_values(Some(chunk.to_vec()))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| observe_error(&format!("the recipes' images in {region}"), &e))?;
                for img in found.images() {
                    let tag = |k: &str| tag_value(img.tags(), k).unwrap_or_default();
                    let name = tag("recipe:name");
                    let build_id = tag("recipe:build-id");
                    let image_id = img.image_id().unwrap_or_default().to_string();
                    // Launch permissions of the current version's images only (one call each).
                    let current = state
                        .get(&name)
                        .and_then(|s| s.current())
                        .is_some_and(|c| c.build_id == build_id);
                    let shares = if current {
                        Self::launch_permissions(&ec2, &image_id).await?
                    } else {
                        BTreeSet::new()
                    };
                    ids.push(image_id.clone());
                    obs.images.entry(name).or_default().push(ObservedImage {
                        build_id,
                        region: region.clone(),
                        image_id,
                        shares_observed: current,
                        shares,
                        version: tag("recipe:version"),
                        fingerprint: tag("recipe:fingerprint"),
                        created_at: img.creation_date().and_then(|d| d.parse().ok()),
                    });
                }
            }
            let users = images_in_use(&ec2, &ids).await.map_err(|e| ObserveError {
                what: format!("what uses the recipes' images in {region}"),
                detail: e.message,
            })?;
            obs.in_use.extend(users.into_keys());
        }
        Ok(obs)
    }
}
