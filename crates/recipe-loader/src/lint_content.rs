//! What a recipe's image holds, read from its content rather than from package names: the files its
//! baked steps write and the commands they run, in the recipe and the recipes it is layered on. The
//! checklist items about agents and PCoIP (seed 000, Appendix A: 16, 17, 18) ask how they are
//! configured, and the SSM Agent every AWS base ships configures nothing.

use std::path::Path;

use recipe_model::{Stage, Step};

use crate::load::{LoadedRecipe, RecipeSet};
use crate::walk::step_texts;

/// One thing baked into the image: a step's own text, or the content of a file it writes or runs.
pub(crate) struct Baked {
    /// Where a `file` step writes this content (`None` for commands and scripts).
    pub dest: Option<String>,
    /// The text, lowercased.
    pub text: String,
}

/// Everything baked into `r`'s image that lint can read, parents first.
pub(crate) fn baked(set: &RecipeSet, r: &LoadedRecipe) -> Vec<Baked> {
    let mut chain = vec![r];
    while let Some(p) = chain.last().and_then(|c| c.parent) {
        if chain.len() > set.recipes.len() {
            break;
        }
        chain.push(&set.recipes[p]);
    }
    let mut out = Vec::new();
    for rec in chain.into_iter().rev() {
        for s in rec.steps.iter().filter(|s| s.stage == Stage::Image) {
            let texts = step_texts(&s.step);
            out.push(Baked {
                dest: None,
                text: texts
                    .iter()
                    .map(|t| t.value.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
            let (src, dest) = match &s.step.value {
                Step::File(f) => (&f.src.value, Some(f.dest.value.clone())),
                Step::Script(x) => (&x.path.value, None),
                _ => continue,
            };
            if let Some(text) = content(rec, &s.source.path, src) {
                out.push(Baked {
                    dest,
                    text: text.to_ascii_lowercase(),
                });
            }
        }
    }
    out
}

/// The content of the file `src` names, relative to the file `from` that names it.
fn content(r: &LoadedRecipe, from: &Path, src: &str) -> Option<String> {
    let dir = from.parent().unwrap_or(Path::new(""));
    let wanted = crate::load::normalize(&dir.join(src));
    let f = r.files.iter().find(|f| f.path == wanted)?;
    String::from_utf8(f.bytes.to_vec()).ok()
}

/// `key = value` settings of a configuration file (`#` comments and blank lines skipped).
fn settings(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// Checklist item 18: what the PCoIP policy the image writes (`/etc/pcoip-agent/pcoip-agent.conf`)
/// lacks, or `None` when it forces AES-256 (`pcoip.enable_aes_128_gcm = 0` and
/// `pcoip.enable_salsa20_256_round12 = 0`, AES-256-GCM left on) and sets a clipboard policy
/// (`pcoip.server_clipboard_state`). The directive names are the PCoIP agent's.
pub(crate) fn pcoip_gaps(baked: &[Baked]) -> Option<Vec<&'static str>> {
    let policies: Vec<&Baked> = baked
        .iter()
        .filter(|b| {
            b.dest
                .as_deref()
                .is_some_and(|d| d.ends_with("pcoip-agent.conf"))
        })
        .collect();
    if policies.is_empty() {
        return Some(vec![
            "no `file` step writes /etc/pcoip-agent/pcoip-agent.conf",
        ]);
    }
    let set: Vec<(&str, &str)> = policies.iter().flat_map(|b| settings(&b.text)).collect();
    let value = |key: &str| set.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let mut gaps = Vec::new();
    if value("pcoip.enable_aes_128_gcm") != Some("0") {
        gaps.push("`pcoip.enable_aes_128_gcm = 0` (AES-256 only)");
    }
    if value("pcoip.enable_salsa20_256_round12") != Some("0") {
        gaps.push("`pcoip.enable_salsa20_256_round12 = 0` (AES-256 only)");
    }
    if value("pcoip.enable_aes_256_gcm") == Some("0") {
        gaps.push("AES-256-GCM left on (`pcoip.enable_aes_256_gcm` is 0)");
    }
    if value("pcoip.server_clipboard_state").is_none() {
        gaps.push("a clipboard policy (`pcoip.server_clipboard_state`)");
    }
    (!gaps.is_empty()).then_some(gaps)
}

/// Security agents (checklist item 16), each with what shows it is enrolled or configured to
/// report: a package name alone does not.
const SECURITY: &[(&str, &[&str])] = &[
    (
        "osquery",
        &["osquery.conf", "--config_path", "osquery.flags"],
    ),
    ("crowdstrike falcon", &["falconctl -s", "--cid"]),
    ("wazuh", &["wazuh_manager", "ossec.conf", "agent-auth"]),
    (
        "microsoft defender",
        &[
            "mdatp_onboard",
            "windowsdefenderatponboardingscript",
            "onboarding",
            "set-mppreference",
        ],
    ),
    (
        "sentinelone",
        &["sentinelctl management token", "site_token"],
    ),
    ("aide", &["aide --init", "aideinit", "aide.conf"]),
    ("clamav", &["freshclam", "clamd.conf"]),
    ("amazon inspector", &["inspector2", "awsagent"]),
];

/// The security agents whose enrolment or configuration the image carries.
pub(crate) fn security_agents(baked: &[Baked]) -> Vec<&'static str> {
    found(baked, SECURITY)
}

/// Log agents (checklist items 17 and 19), each with what shows it forwards somewhere.
const LOGS: &[(&str, &[&str])] = &[
    ("rsyslog", &["omfwd", "@@", "action(type=\"omfwd\""]),
    (
        "amazon-cloudwatch-agent",
        &["collect_list", "fetch-config", "log_group_name"],
    ),
    ("fluent-bit", &["[output]"]),
    ("fluentd", &["<match"]),
    ("splunk forwarder", &["forward-server", "[tcpout"]),
    ("datadog", &["logs_enabled", "dd_api_key", "api_key:"]),
    ("filebeat", &["output.elasticsearch", "output.logstash"]),
    ("vector", &["[sinks"]),
];

/// The log agents the image configures to forward.
pub(crate) fn forwarding_agents(baked: &[Baked]) -> Vec<&'static str> {
    found(baked, LOGS)
}

fn found(baked: &[Baked], table: &[(&'static str, &[&str])]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(_, evidence)| {
            baked.iter().any(|b| {
                let dest = b.dest.as_deref().unwrap_or_default().to_ascii_lowercase();
                evidence
                    .iter()
                    .any(|e| b.text.contains(e) || dest.contains(e))
            })
        })
        .map(|(agent, _)| *agent)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dest: &str, text: &str) -> Baked {
        Baked {
            dest: Some(dest.into()),
            text: text.to_ascii_lowercase(),
        }
    }

    #[test]
    fn a_pcoip_policy_passes_only_with_aes_256_only_and_a_clipboard_policy() {
        let dest = "/etc/pcoip-agent/pcoip-agent.conf";
        let good = "pcoip.server_clipboard_state = 2\npcoip.enable_aes_128_gcm = 0\npcoip.enable_salsa20_256_round12 = 0\n";
        assert_eq!(pcoip_gaps(&[file(dest, good)]), None);
        let open = "pcoip.server_clipboard_state = 0\n# pcoip.enable_aes_128_gcm = 0\n";
        let gaps = pcoip_gaps(&[file(dest, open)]).unwrap();
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        let no_clip = "pcoip.enable_aes_128_gcm = 0\npcoip.enable_salsa20_256_round12 = 0\n";
        assert_eq!(pcoip_gaps(&[file(dest, no_clip)]).unwrap().len(), 1);
        assert!(
            pcoip_gaps(&[file("/etc/motd", good)]).is_some(),
            "only the agent's file counts"
        );
    }

    #[test]
    fn agents_count_when_configured_not_when_named() {
        let installed = Baked {
            dest: None,
            text: "yum install -y rsyslog osquery".into(),
        };
        assert!(forwarding_agents(&[installed]).is_empty());
        let forwarding = file(
            "/etc/rsyslog.d/60-forward.conf",
            "*.* @@logs.example.com:6514",
        );
        assert_eq!(forwarding_agents(&[forwarding]), ["rsyslog"]);
        let enrolled = file("/etc/osquery/osquery.flags", "--tls_hostname=fleet");
        assert_eq!(security_agents(&[enrolled]), ["osquery"]);
        let ssm = Baked {
            dest: None,
            text: "systemctl enable amazon-ssm-agent".into(),
        };
        assert!(security_agents(&[ssm]).is_empty());
    }
}
