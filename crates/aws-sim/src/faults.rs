//! Fault injection: throttling and 5xx at given rates, latency, and scripted failures.

use serde::{Deserialize, Serialize};

/// What goes wrong, on purpose.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Faults {
    /// Fraction of requests (0-1) answered with a throttling error.
    pub throttle_rate: f64,
    /// Fraction of requests (0-1) answered with a 500.
    pub error_rate: f64,
    /// Added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Fraction of requests (0-1) that change something and then lose their answer: the change is
    /// made, and the client gets a 500 (as when a connection drops after the service committed).
    /// Only client tokens and idempotent retries keep these from making duplicates. AWS asks clients
    /// to retry such requests with the same client token:
    /// https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
    pub lost_rate: f64,
    /// Seed for the rates' random choices, so a run can be repeated.
    pub seed: u64,
    /// Specific calls that fail.
    pub scripted: Vec<ScriptedFault>,
}

/// Fail the `nth` call (1-based, counted per operation since the last reset) of `operation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScriptedFault {
    /// The call takes effect first, then the error is returned (its answer is lost).
    #[serde(default)]
    pub taken: bool,
    /// Instead of an error, the call succeeds and its answer lacks every member with this name
    /// (`imageId`, `CommandId`): how a client copes with a field missing from an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_member: Option<String>,
    /// `service:Operation`, e.g. `ec2:CreateImage`.
    pub operation: String,
    /// Which call fails.
    pub nth: u64,
    /// HTTP status of the error.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Error code.
    pub code: String,
    /// Error message.
    #[serde(default)]
    pub message: String,
}

fn default_status() -> u16 {
    400
}

impl Default for ScriptedFault {
    fn default() -> Self {
        ScriptedFault {
            taken: false,
            drop_member: None,
            operation: String::new(),
            nth: 1,
            status: default_status(),
            code: String::new(),
            message: String::new(),
        }
    }
}

/// Remove every member named `name` from an answer: XML elements (`<name>…</name>`, `<name/>`) or
/// JSON object keys, at any depth.
pub fn drop_member_xml(xml: &str, name: &str) -> String {
    let (open, close, empty) = (
        format!("<{name}>"),
        format!("</{name}>"),
        format!("<{name}/>"),
    );
    let mut out = xml.replace(&empty, "");
    while let Some(start) = out.find(&open) {
        let Some(end) = out[start..].find(&close) else {
            break;
        };
        out.replace_range(start..start + end + close.len(), "");
    }
    out
}

/// See [`drop_member_xml`].
pub fn drop_member_json(v: &mut serde_json::Value, name: &str) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove(name);
            map.values_mut().for_each(|x| drop_member_json(x, name));
        }
        serde_json::Value::Array(list) => list.iter_mut().for_each(|x| drop_member_json(x, name)),
        _ => {}
    }
}

/// A small deterministic generator (xorshift64*), seeded from [`Faults::seed`].
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded; a zero seed is replaced by a fixed odd constant.
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// A number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}
