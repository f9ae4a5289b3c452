//! The HTTP server: decoding, faults, the request log, dispatch to services, persistence.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::clock::{Durations, now_ms};
use crate::faults::{Faults, Rng};
use crate::protocol::{self, Call, Handler, Output, Protocol, Req};
use crate::ssm::CommandScript;
use crate::world::World;

mod faults;
mod setup;

use faults::{is_read, plan_fault};

/// How to start the endpoint.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Pending-phase durations.
    pub durations: Durations,
    /// Faults to inject from the start.
    pub faults: Faults,
    /// Persist the world to `<dir>/world.json` after every change, and load it at start.
    pub state_dir: Option<PathBuf>,
    /// Play the person who follows an apply's wait line and registers each builder's SSM agent
    /// with the code its parameter holds ([`World::operator`], `ssm_hybrid.rs`).
    pub operator: bool,
    /// Back Linux instances with real root filesystems, where steps really run (`machine.rs`).
    pub machines: Option<crate::MachineConfig>,
    /// Every account's Running On-Demand Standard instances quota, in vCPUs (`quotas.rs`): an
    /// account's real value cannot be known; new accounts start low.
    pub vcpu_quota: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            durations: Durations::default(),
            faults: Faults::default(),
            state_dir: None,
            operator: false,
            machines: None,
            vcpu_quota: 256,
        }
    }
}

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// `service:Operation`.
    pub operation: String,
    /// Caller account.
    pub account: String,
    /// Region.
    pub region: String,
    /// HTTP status answered.
    pub status: u16,
    /// The injected fault, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Every request since the last reset, with counts per operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLog {
    /// Calls per `service:Operation`.
    pub counts: BTreeMap<String, u64>,
    /// The requests, oldest first (the last 100,000).
    pub records: Vec<RequestRecord>,
}

impl RequestLog {
    /// Calls of one `service:Operation`.
    pub fn count(&self, operation: &str) -> u64 {
        self.counts.get(operation).copied().unwrap_or(0)
    }

    /// Calls of every operation of a service whose name starts with `prefix` (e.g. `ec2:Describe`).
    pub fn count_prefix(&self, prefix: &str) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    }
}

pub(crate) struct Shared {
    pub world: Mutex<World>,
    pub durations: Mutex<Durations>,
    pub faults: Mutex<(Faults, Rng)>,
    pub log: Mutex<RequestLog>,
    pub state_dir: Option<PathBuf>,
    /// The machine worker's queue, when machines are on.
    pub jobs: Mutex<Option<std::sync::mpsc::Sender<crate::machine::Job>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Change the world outside a request (the machine worker), and persist it.
    pub(crate) fn with_world(&self, f: impl FnOnce(&mut World)) {
        let mut w = lock(&self.world);
        f(&mut w);
        self.persist(&w);
    }

    /// Hand the jobs the last request queued to the machine worker.
    fn dispatch(&self, world: &mut World) {
        if world.jobs.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut world.jobs);
        if let Some(tx) = lock(&self.jobs).as_ref() {
            for j in jobs {
                let _ = tx.send(j);
            }
        }
    }

    pub(crate) fn persist(&self, world: &World) {
        let Some(dir) = &self.state_dir else { return };
        let _ = std::fs::create_dir_all(dir);
        let tmp = dir.join("world.json.tmp");
        if let Ok(bytes) = serde_json::to_vec(world)
            && std::fs::write(&tmp, bytes).is_ok()
        {
            let _ = std::fs::rename(&tmp, dir.join("world.json"));
        }
    }

    /// A person at `machine` (a WorkSpace id or an image builder's name) runs
    /// `amazon-ssm-agent -register` with an activation's id and code: the managed node's id, or
    /// why the agent refused.
    pub(crate) fn register(
        &self,
        activation: &str,
        code: &str,
        machine: &str,
    ) -> Result<String, String> {
        let durations = lock(&self.durations).clone();
        let mut world = lock(&self.world);
        let now = now_ms(world.offset_ms);
        // The machine as it is now, not as the last request left it.
        world.tick(now, &durations);
        let id = crate::ssm_hybrid::register(&mut world, activation, code, machine, now)?;
        self.persist(&world);
        self.dispatch(&mut world);
        Ok(id)
    }

    pub fn reset(&self) {
        let (operator, vcpu_quota) = {
            let w = lock(&self.world);
            (w.operator, w.vcpu_quota)
        };
        *lock(&self.world) = World {
            operator,
            vcpu_quota,
            ..World::default()
        };
        *lock(&self.log) = RequestLog::default();
        let seed = lock(&self.faults).0.seed;
        lock(&self.faults).1 = Rng::new(seed);
        self.persist(&World::default());
    }
}

/// A running endpoint. Dropping it stops the server.
pub struct Sim {
    url: String,
    pub(crate) shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The machine worker, when machines are on: it finishes its queue before the sim stops.
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Sim {
    /// Start on the current tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Sim> {
        let world = config
            .state_dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join("world.json")).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut world = World {
            operator: config.operator,
            vcpu_quota: config.vcpu_quota,
            machine_dir: config.machines.as_ref().map(|m| m.dir.clone()),
            ..world
        };
        let requeued = crate::machine::resume(&mut world);
        let seed = config.faults.seed;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            durations: Mutex::new(config.durations),
            faults: Mutex::new((config.faults, Rng::new(seed))),
            log: Mutex::new(RequestLog::default()),
            state_dir: config.state_dir,
            jobs: Mutex::new(None),
        });
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let worker = config.machines.map(|mut m| {
            m.endpoint = Some(addr.to_string());
            let (tx, handle) = crate::machine::spawn(Arc::clone(&shared), m);
            for j in requeued {
                let _ = tx.send(j);
            }
            *lock(&shared.jobs) = Some(tx);
            handle
        });

        let app_state = Arc::clone(&shared);
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = Arc::clone(&app_state);
                async move { serve(&shared, &method, &uri, &headers, &body).await }
            },
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Sim {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(tx),
            task: Some(task),
            worker,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A copy of the request log.
    pub fn requests(&self) -> RequestLog {
        lock(&self.shared.log).clone()
    }

    /// Replace the faults.
    pub fn set_faults(&self, faults: Faults) {
        let seed = faults.seed;
        *lock(&self.shared.faults) = (faults, Rng::new(seed));
    }

    /// Replace the durations.
    pub fn set_durations(&self, d: Durations) {
        *lock(&self.shared.durations) = d;
    }

    /// Move the clock forward.
    pub fn advance(&self, ms: u64) {
        lock(&self.shared.world).offset_ms += ms;
    }

    /// Make the next `count` resources of `kind` (`ec2-image`, `ec2-copy`, `workspaces-image`) fail instead of
    /// becoming available; `workspaces-rebuild`: the next rebuilds end UNHEALTHY; `appstream-fleet`:
    /// the next fleet image changes fail on the replaced instances (FleetErrors).
    pub fn fail_next(&self, kind: &str, count: u32) {
        lock(&self.shared.world)
            .fail_next
            .insert(kind.to_string(), count);
    }

    /// AWS publishes WorkSpaces component updates for `image` (DescribeWorkspaceImages' `Updates`);
    /// false if there is no such image.
    pub fn publish_workspaces_update(&self, image: &str) -> bool {
        let mut w = lock(&self.shared.world);
        let Some(img) = w.workspaces.images.get_mut(image) else {
            return false;
        };
        img.update_available = true;
        self.shared.persist(&w);
        true
    }

    /// AWS moves the public bundle `bundle` to a newer image, as it does when it patches its public
    /// bundles (the bundle keeps its id; DescribeWorkspaceBundles shows the new `ImageId` and
    /// `LastUpdatedTime`). `false` for an id that is not a public bundle.
    pub fn publish_bundle_update(&self, bundle: &str) -> bool {
        let mut w = lock(&self.shared.world);
        let now = now_ms(w.offset_ms);
        let done = crate::workspaces::publish_bundle_update(&mut w.workspaces, bundle, now);
        if done {
            self.shared.persist(&w);
        }
        done
    }

    /// Set up the account's network as its platform team would have: subnets and security groups
    /// with these ids in `region`, in the region's default VPC (ids already there are kept), and
    /// the `ssm`, `ec2messages` and `ssmmessages` interface endpoints in that VPC.
    pub fn provide_network(
        &self,
        account: &str,
        region: &str,
        subnets: &[String],
        groups: &[String],
    ) {
        let mut w = lock(&self.shared.world);
        let vpc = crate::ec2_access::default_vpc(region);
        for id in subnets {
            w.ec2
                .subnets
                .entry(id.clone())
                .or_insert_with(|| crate::ec2_access::Subnet {
                    id: id.clone(),
                    owner: account.into(),
                    region: region.into(),
                    vpc_id: vpc.clone(),
                    cidr: "172.31.0.0/20".into(),
                    map_public_ip: true,
                });
        }
        // Private builders (an AppStream image builder has no public IP without default internet
        // access) reach Systems Manager through the three interface endpoints, as a platform team
        // sets them up (`ec2_net.rs`).
        for service in crate::ec2_net::ssm_services(region) {
            let id = format!("vpce-{}", &crate::ec2_access::default_vpc(region)[4..]);
            let id = format!("{id}{}", service.rsplit('.').next().unwrap_or_default());
            w.ec2
                .net
                .endpoints
                .entry(id.clone())
                .or_insert_with(|| crate::ec2_net::Endpoint {
                    id,
                    owner: account.into(),
                    region: region.into(),
                    vpc_id: vpc.clone(),
                    service,
                    private_dns: true,
                });
        }
        for id in groups {
            w.ec2.security_groups.entry(id.clone()).or_insert_with(|| {
                crate::ec2_access::SecurityGroup {
                    id: id.clone(),
                    name: id.clone(),
                    description: "provided with the account's network".into(),
                    owner: account.into(),
                    region: region.into(),
                    vpc_id: vpc.clone(),
                    ..Default::default()
                }
            });
        }
        self.shared.persist(&w);
    }

    /// An instance profile of `account` with one role (named like it) carrying these managed policies
    /// (ARNs), as the account's platform team would have made it.
    /// Made as IAM's CreateRole, CreateInstanceProfile, AddRoleToInstanceProfile and
    /// AttachRolePolicy make it (what exists already is kept; policies are added).
    pub fn provide_instance_profile(&self, account: &str, name: &str, managed: &[String]) {
        use crate::iam_kms::{add_policy, add_role, create_profile, create_role};
        let mut w = lock(&self.shared.world);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let _ = create_role(&mut w, account, name, trust);
        let _ = create_profile(&mut w, account, name);
        let _ = add_role(&mut w, account, name, name);
        for arn in managed {
            let _ = add_policy(&mut w, account, name, arn, true);
        }
        self.shared.persist(&w);
    }

    /// A role of `account` that `service` (a service principal such as `appstream.amazonaws.com`)
    /// may assume, made as IAM's CreateRole makes it (one that exists is kept).
    pub fn provide_role(&self, account: &str, name: &str, service: &str) {
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
        );
        let mut w = lock(&self.shared.world);
        let _ = crate::iam_kms::create_role(&mut w, account, name, &trust);
        self.shared.persist(&w);
    }

    /// A KMS key of `account` in `region`, found by `key` (an id, key ARN, alias or alias ARN).
    pub fn provide_kms_key(&self, account: &str, region: &str, key: &str) {
        let mut w = lock(&self.shared.world);
        crate::kms::add_key(&mut w, account, region, &[key.to_string()], key);
        self.shared.persist(&w);
    }

    /// A secret the account's team keeps, made as they would: PutParameter of a SecureString
    /// (`secrets_manager` false) or CreateSecret, through the API's own handlers. One that exists is
    /// left as it is.
    pub fn provide_secret(
        &self,
        account: &str,
        region: &str,
        name: &str,
        secrets_manager: bool,
        value: &str,
    ) {
        let mut w = lock(&self.shared.world);
        let now = crate::clock::now_ms(w.offset_ms);
        let (service, op, body) = match secrets_manager {
            false => (
                "ssm",
                "PutParameter",
                serde_json::json!({ "Name": name, "Value": value, "Type": "SecureString" }),
            ),
            true => (
                "secretsmanager",
                "CreateSecret",
                serde_json::json!({ "Name": name, "SecretString": value }),
            ),
        };
        let call = crate::protocol::Call {
            service: service.into(),
            op: op.into(),
            protocol: crate::protocol::Protocol::Json,
            region: region.into(),
            account: account.into(),
            params: std::collections::BTreeMap::new(),
            body,
            raw: vec![],
        };
        let durations = lock(&self.shared.durations).clone();
        let req = Req {
            call: &call,
            now,
            durations: &durations,
            request_id: "",
        };
        let _ = match secrets_manager {
            false => crate::ssm::handle(&mut w, &req),
            true => crate::secrets::handle(&mut w, &req),
        };
        self.shared.persist(&w);
    }

    /// A person at `machine` (a WorkSpace id or an image builder's name) registers its SSM agent
    /// with an activation's id and code, as `POST /_sim/ssm/register` does: the node's id, or why
    /// the agent refused (a wrong code, an expired or used-up activation, a machine that is not up).
    pub fn register_agent(
        &self,
        activation: &str,
        code: &str,
        machine: &str,
    ) -> Result<String, String> {
        self.shared.register(activation, code, machine)
    }

    /// Script an SSM command outcome.
    pub fn script_command(&self, script: CommandScript) {
        lock(&self.shared.world).ssm.scripts.push(script);
    }

    /// Forget every resource, the log and the fault counters.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// The artifact of a sandbox image (its root filesystem as a tarball), if it has one.
    pub fn artifact(&self, image: &str) -> Option<String> {
        let w = lock(&self.shared.world);
        if let Some(i) = w.ec2.images.get(image) {
            return i.artifact.clone();
        }
        if let Some(i) = w.workspaces.images.get(image) {
            return i.artifact.clone();
        }
        let app = w.appstream.images.values();
        app.filter(|i| i.arn == image || i.name == image)
            .find_map(|i| i.artifact.clone())
    }

    /// A copy of the world, for assertions.
    pub fn world(&self) -> World {
        lock(&self.shared.world).clone()
    }

    /// Stop accepting requests. Open keep-alive connections get a second to finish, then the server
    /// task is aborted (clients keep pooled connections open indefinitely).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut t) = self.task.take()
            && tokio::time::timeout(std::time::Duration::from_secs(1), &mut t)
                .await
                .is_err()
        {
            t.abort();
        }
        lock(&self.shared.jobs).take();
        if let Some(w) = self.worker.take() {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The machine worker finishes what was queued (a terminated builder's root is removed).
        lock(&self.shared.jobs).take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn respond(e: protocol::Encoded) -> Response {
    let mut r = (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        e.body,
    )
        .into_response();
    let h = r.headers_mut();
    if let Ok(v) = e.content_type.parse() {
        h.insert("content-type", v);
    }
    for (k, v) in e.headers {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    }
    r
}

/// The simulator's service for a Smithy service shape name (awsJson `X-Amz-Target` prefix, or RPC v2
/// CBOR path segment).
fn service_of(shape: &str) -> String {
    match shape {
        "AmazonSSM" => "ssm".into(),
        "WorkspacesService" => "workspaces".into(),
        // AppStream 2.0 serves awsJson1_1 (the AWS CLI and boto3 speak it) and RPC v2 CBOR (the Rust
        // SDK): the same operations, the same members.
        "PhotonAdminProxyService" => "appstream".into(),
        "TrentService" => "kms".into(),
        "ServiceQuotasV20190624" => "servicequotas".into(),
        "DirectoryService_20150416" => "ds".into(),
        other => other.to_lowercase(),
    }
}

fn decode(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Call, Box<(Call, ApiError)>> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (key, region, signing) = protocol::credential_scope(header("authorization"))
        .unwrap_or_else(|| ("anonymous".into(), "us-east-1".into(), String::new()));
    let mut call = Call {
        service: signing.clone(),
        op: String::new(),
        protocol: Protocol::Query,
        region,
        account: protocol::account_of(&key),
        params: BTreeMap::new(),
        body: serde_json::Value::Null,
        raw: vec![],
    };
    if signing == "s3" {
        return Ok(s3_call(call, method, uri, headers, body));
    }
    let target = header("x-amz-target");
    if let Some((svc, op)) = target.split_once('.') {
        call.protocol = Protocol::Json;
        call.op = op.to_string();
        call.service = service_of(svc);
        call.body = if body.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                (
                    call.clone(),
                    ApiError::client("SerializationException", e.to_string()),
                )
            })?
        };
        return Ok(call);
    }
    if let Some(rest) = uri.path().strip_prefix("/service/") {
        // Smithy RPC v2 CBOR: `/service/<service shape>/operation/<op>`, the service named by its
        // shape (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html), so WorkSpaces
        // and AppStream share the path scheme and are told apart by it, not by the path alone.
        call.protocol = Protocol::Cbor;
        let (svc, op) = rest.split_once("/operation/").unwrap_or(("", rest));
        call.op = op.to_string();
        call.service = if svc.is_empty() {
            signing
        } else {
            service_of(svc)
        };
        call.body = protocol::decode_cbor(body).map_err(|e| Box::new((call.clone(), e)))?;
        return Ok(call);
    }
    if method == Method::POST || method == Method::GET {
        let mut params = protocol::form(body);
        if let Some(q) = uri.query() {
            params.extend(protocol::form(q.as_bytes()));
        }
        call.op = params.get("Action").cloned().unwrap_or_default();
        call.params = params;
        if call.service.is_empty() {
            call.service = "ec2".into();
        }
        return Ok(call);
    }
    Err(Box::new((
        call,
        ApiError::client("InvalidAction", "unrecognised request"),
    )))
}

/// An S3 REST call: the operation from method and path-style path, the payload decoded from
/// `aws-chunked` when it was sent so.
fn s3_call(mut call: Call, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Call {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    call.protocol = Protocol::RestXml;
    let (bucket, key) = crate::s3::bucket_and_key(uri.path());
    call.op = crate::s3::operation(method.as_str(), &bucket, &key).to_string();
    call.params.insert("Bucket".into(), bucket);
    call.params.insert("Key".into(), key);
    let chunked = header("content-encoding").contains("aws-chunked")
        || header("x-amz-content-sha256").starts_with("STREAMING-");
    call.raw = if chunked {
        crate::s3::dechunk(body)
    } else {
        body.to_vec()
    };
    call
}

/// The services aws-sim serves, each behind one [`Handler`].
const SERVICES: &[(&str, Handler)] = &[
    ("ec2", crate::ec2::handle),
    ("ssm", crate::ssm::handle),
    ("workspaces", crate::workspaces::handle),
    ("appstream", crate::appstream::handle),
    ("sts", crate::sts::handle),
    ("iam", crate::iam_kms::iam),
    ("kms", crate::kms::kms),
    ("servicequotas", crate::quotas::handle),
    ("secretsmanager", crate::secrets::handle),
    ("s3", crate::s3::handle),
    ("ds", crate::ds::handle),
];

/// Run the call against the world.
fn handle(shared: &Shared, call: &Call, request_id: &str) -> Result<Output, ApiError> {
    let durations = lock(&shared.durations).clone();
    let mut world = lock(&shared.world);
    let now = now_ms(world.offset_ms);
    world.tick(now, &durations);
    crate::ec2::ensure_public_images(&mut world, &call.region, now);
    let req = Req {
        call,
        now,
        durations: &durations,
        request_id,
    };
    let r = match SERVICES.iter().find(|(name, _)| *name == call.service) {
        Some((_, serve)) => serve(&mut world, &req),
        None => Err(ApiError::unsupported(&call.service, &call.op)),
    };
    // A builder this call deleted gives its machine back now, not at the next call (there may be
    // none: the delete is often an apply's last).
    if world.machine_dir.is_some() {
        crate::machine::release_gone_builders(&mut world);
    }
    if r.is_ok() && !is_read(&call.op) {
        shared.persist(&world);
    }
    shared.dispatch(&mut world);
    r
}

/// An answer without the member `name`.
fn without(out: Output, name: &str) -> Output {
    match out {
        Output::Xml(xml) => Output::Xml(crate::faults::drop_member_xml(&xml, name)),
        Output::Value(mut v) => {
            crate::faults::drop_member_json(&mut v, name);
            Output::Value(v)
        }
    }
}

async fn serve(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if uri.path().starts_with("/_sim/") {
        return crate::admin::handle(shared, method, uri.path(), body);
    }
    let latency = lock(&shared.faults).0.latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let mut seq = lock(&shared.world).seq;
    seq += 1;
    let request_id = format!("{seq:08x}-5111-4e2b-9a4c-{:012x}", seq);
    let call = match decode(method, uri, headers, body) {
        Ok(c) => c,
        Err(boxed) => {
            let (c, e) = *boxed;
            return respond(protocol::encode(&c, Err(e), &request_id));
        }
    };
    let operation = format!("{}:{}", call.service, call.op);
    let n = {
        let mut log = lock(&shared.log);
        let n = log.counts.entry(operation.clone()).or_default();
        *n += 1;
        *n
    };
    let planned = plan_fault(shared, &call, &operation, n);
    let injected = planned.label();
    let result: Result<Output, ApiError> = match planned.before {
        Some(e) => Err(e),
        None => {
            let r = handle(shared, &call, &request_id);
            match (planned.after, planned.drop_member) {
                (Some(e), _) => Err(e),
                (None, Some(name)) => r.map(|out| without(out, &name)),
                (None, None) => r,
            }
        }
    };
    let encoded = protocol::encode(&call, result, &request_id);
    let mut log = lock(&shared.log);
    if log.records.len() >= 100_000 {
        log.records.remove(0);
    }
    log.records.push(RequestRecord {
        operation,
        account: call.account,
        region: call.region,
        status: encoded.status,
        fault: injected,
    });
    drop(log);
    respond(encoded)
}
