//! Test support shared by the crates' integration tests.
//!
//! [`moto`] starts `moto_server` (from `MOTO_SERVER`, the repository's `.venv/bin`, or `PATH`) on a free
//! loopback port and stops it when the guard drops. In CI (`CI` set) a missing moto fails the test;
//! elsewhere the test is skipped with a message, since `./just setup` installs it.
//!
//! [`plan_options`] and [`apply_options`] are what a test that plans and applies in memory (a fake
//! provider, a local state folder) runs with.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto_server; killed on drop.
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Send a bare HTTP/1.0 request (moto accepts unsigned bucket creation) and return the status.
    pub fn request(&self, method: &str, path: &str) -> Option<u16> {
        http(self.port, method, path)
    }

    /// POST a query-protocol form (`Action=...&...`) to `service` (moto routes by the credential scope
    /// and does not check the signature) and return the status. Used to create what a test needs that
    /// the product never creates, such as an IAM instance profile.
    pub fn query(&self, service: &str, form: &str) -> Option<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let req = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = [0u8; 32];
        let n = s.read(&mut buf).ok()?;
        let line = std::str::from_utf8(&buf[..n]).ok()?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Moto {
    /// POST an awsJson1_1 request (`X-Amz-Target: <target>`) to `service`; the status and the body.
    /// Like [`Moto::query`], for what a test needs that the product never creates (a directory).
    pub fn json(&self, service: &str, target: &str, body: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let req = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let status = out.split_whitespace().nth(1)?.parse().ok()?;
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }
}

fn moto_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join("moto_server"))
        .find(|p| p.exists())
}

fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).ok()?;
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Start moto, or `None` (with a message) when it is not installed and this is not CI.
#[expect(clippy::print_stderr, reason = "say why a test is skipped outside CI")]
pub fn moto() -> Option<Moto> {
    let Some(bin) = moto_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have moto_server (.ci/run installs it into .venv)"
        );
        eprintln!("moto_server not found: skipping (run `./just setup`)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto {
        child,
        port,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while http(port, "GET", "/moto-api/") != Some(200) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto_server did not answer within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(moto)
}

/// Plan options for a test: the build region `eu-west-2`, no account, typical estimates, now.
pub fn plan_options() -> recipe_plan::PlanOptions {
    recipe_plan::PlanOptions {
        estimates: recipe_plan::Estimates::default(),
        targets: vec![],
        unfinished: Default::default(),
        now: jiff::Timestamp::now(),
        cloud: recipe_plan::CloudInfo {
            account: None,
            region: "eu-west-2".into(),
            region_source: "the test".into(),
            ..Default::default()
        },
    }
}

/// Apply options for a test: no rate limit, a millisecond back-off, a 5 s lock timeout.
pub fn apply_options() -> recipe_engine::apply::ApplyOptions {
    recipe_engine::apply::ApplyOptions {
        engine: recipe_engine::EngineOptions {
            rate_per_sec: None,
            base_backoff: Duration::from_millis(1),
            ..recipe_engine::EngineOptions::default()
        },
        keep_on_error: false,
        lock_timeout: Duration::from_secs(5),
    }
}
