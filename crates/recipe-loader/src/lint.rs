//! `recipe lint`: scores a recipe set against the image design checklist of the WorkSpaces image
//! whitepaper (seed 000, Appendix A), wherever a recipe can show a checklist item.
//!
//! Each rule belongs to one checklist principle. A principle's score runs from 1 (no applicable rule
//! passes) to 5 (all pass), like the checklist's own 1-5 scale; a principle with no applicable rule
//! is not scored.

use std::sync::LazyLock;

use recipe_model::{CleanupPreset, Os, Stage, Step, Strategy};

use crate::TargetSpec;
use regex::Regex;
use serde::Serialize;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, DiagnosticRecord};
use crate::load::{LoadedRecipe, RecipeSet};
use crate::walk::step_texts;

/// The checklist's principles, in its order.
pub const PRINCIPLES: &[&str] = &[
    "Automation",
    "Cost Optimization",
    "Efficient",
    "Flexibility",
    "Productivity",
    "Scalability",
    "Security",
    "Supportability",
];

/// The tag keys the seed documents recommend, with spellings accepted for each.
pub const RECOMMENDED_TAGS: &[(&str, &[&str])] = &[
    ("Name", &["Name"]),
    ("Version", &["Version"]),
    ("Software", &["Software"]),
    ("Role", &["Role"]),
    ("System", &["System"]),
    ("Project", &["Project"]),
    (
        "CostCenter",
        &[
            "CostCenter",
            "Cost Center",
            "BusinessUnit",
            "Business Unit",
            "Cost Center/Business Unit",
        ],
    ),
    ("Stage", &["Stage"]),
    ("Confidentiality", &["Confidentiality"]),
    ("Compliance", &["Compliance"]),
];

/// Tags the tool fills in itself, so a recipe need not set them.
const TOOL_TAGS: &[&str] = &["Name", "Version"];

const CM_AGENTS: &[&str] = &[
    "puppet",
    "chef",
    "ansible",
    "salt-minion",
    "amazon-ssm-agent",
    "cfn-init",
];
static LICENCE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z0-9]{5}(-[A-Z0-9]{5}){4}\b").expect("licence pattern compiles")
});

/// The outcome of one rule for one recipe.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The recipe shows the practice.
    Pass,
    /// It does not; the finding says what to change.
    Fail,
    /// The rule does not apply to this recipe.
    NotApplicable,
}

/// One principle's score for one recipe.
#[derive(Clone, Debug, Serialize)]
pub struct PrincipleScore {
    /// The principle's name, as the checklist prints it.
    pub principle: &'static str,
    /// 1-5, or `None` when no rule applies.
    pub score: Option<u8>,
    /// Rules that passed.
    pub passed: usize,
    /// Rules that applied.
    pub applicable: usize,
}

/// The rules, by the last part of their code, as `lint.ignore` names them.
pub const RULES: &[&str] = &[
    "manual-step",
    "volume-size",
    "licence-in-image",
    "no-cm-agent",
    "no-bootstrap",
    "no-tests",
    "no-components",
    "no-cleanup",
    "no-security-agent",
    "no-log-agent",
    "no-pcoip-policy",
    "no-description",
    "missing-tags",
    "no-retention",
];

/// A rule the recipe switched off, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Ignored {
    /// The rule.
    pub rule: String,
    /// The recipe's reason.
    pub reason: String,
}

/// The lint result for one recipe.
#[derive(Clone, Debug)]
pub struct RecipeLint {
    /// Recipe name.
    pub recipe: String,
    /// Scores per principle, in checklist order.
    pub principles: Vec<PrincipleScore>,
    /// What to change, one finding per failed rule.
    pub findings: Vec<Diagnostic>,
    /// Rules that failed but the recipe switched off (`lint.ignore`): not scored, not findings.
    pub ignored: Vec<Ignored>,
}

/// `RecipeLint` as data for `--format json`.
#[derive(Serialize)]
pub struct RecipeLintRecord {
    /// Recipe name.
    pub recipe: String,
    /// The mean of the scored principles, 1-5, as `--min-score` compares it (`None`: nothing
    /// scored).
    pub overall: Option<f32>,
    /// Scores per principle.
    pub principles: Vec<PrincipleScore>,
    /// Findings.
    pub findings: Vec<DiagnosticRecord>,
    /// Rules switched off, with the reasons.
    pub ignored: Vec<Ignored>,
}

impl RecipeLint {
    /// As data.
    pub fn to_record(&self) -> RecipeLintRecord {
        RecipeLintRecord {
            recipe: self.recipe.clone(),
            overall: self.overall(),
            principles: self.principles.clone(),
            findings: self.findings.iter().map(Diagnostic::to_record).collect(),
            ignored: self.ignored.clone(),
        }
    }

    /// The mean of the scored principles, 1-5.
    pub fn overall(&self) -> Option<f32> {
        let scored: Vec<u8> = self.principles.iter().filter_map(|p| p.score).collect();
        (!scored.is_empty()).then(|| {
            f32::from(scored.iter().map(|&s| u16::from(s)).sum::<u16>()) / scored.len() as f32
        })
    }
}

struct Rules<'a> {
    r: &'a LoadedRecipe,
    results: Vec<(&'static str, Outcome)>,
    findings: Vec<Diagnostic>,
    ignored: Vec<Ignored>,
}

impl Rules<'_> {
    fn rule(
        &mut self,
        principles: &[&'static str],
        applies: bool,
        pass: bool,
        fail: impl FnOnce(&LoadedRecipe) -> Diagnostic,
    ) {
        let outcome = match (applies, pass) {
            (false, _) => Outcome::NotApplicable,
            (true, true) => Outcome::Pass,
            (true, false) => {
                let mut finding = fail(self.r);
                if let Some(item) = checklist_item(finding.code) {
                    finding.help = format!("{} (checklist: {item})", finding.help);
                }
                match self.ignore_reason(finding.code) {
                    Some(reason) => {
                        let rule = rule_name(finding.code).to_string();
                        self.ignored.push(Ignored { rule, reason });
                        Outcome::NotApplicable
                    }
                    None => {
                        self.findings.push(finding);
                        Outcome::Fail
                    }
                }
            }
        };
        for p in principles {
            self.results.push((p, outcome.clone()));
        }
    }
}

/// A target's own rule ([`crate::TargetSpec::lint_rules`]), scored and reported as the others.
fn target_rule(rules: &mut Rules<'_>, rule: LintRule) {
    let pass = rule.failure.is_none();
    rules.rule(rule.principles, true, pass, |r| {
        let f = rule.failure.expect("a failed rule says why");
        finding(r, rule.code, f.span, f.message, &f.help)
    });
}

/// The result of a target's `recipe lint` rule that applies to a recipe.
#[derive(Clone, Debug)]
pub struct LintRule {
    /// The rule's code (one of the `recipe::lint::*` codes).
    pub code: Code,
    /// The principles it scores.
    pub principles: &'static [&'static str],
    /// Why the recipe fails it; `None`: it passes.
    pub failure: Option<LintFailure>,
}

/// A failed rule: where, what, and what to do.
#[derive(Clone, Debug)]
pub struct LintFailure {
    /// Where in the recipe.
    pub span: recipe_model::Span,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// The seed 000 checklist item (Appendix A) a rule enforces, as the checklist words it.
fn checklist_item(code: Code) -> Option<&'static str> {
    Some(match code {
        Code::LintManualStep => {
            "1 image configuration is scripted; 12 it does not rely on manual changes"
        }
        Code::LintVolumeSize => {
            "3 custom bundles are created with the lowest disk storage capacity"
        }
        Code::LintLicence => "4 application license details are stored externally from the image",
        Code::LintNoCmAgent => {
            "7 configuration management tools provide application abstraction; 14 they are used appropriately"
        }
        Code::LintNoBootstrap => "8 images have a standard bootstrapping capability",
        Code::LintMissingTags => {
            "9 a consistent deployment mechanism by profile identifiers; 22 a consistent tagging strategy"
        }
        Code::LintNoTests => "10 a preconfigured and validated deployment is available",
        Code::LintNoComponents => "11 a library of reusable, modular packages or scripts",
        Code::LintNoCleanup => {
            "15 security keys or configuration items are not included in the build"
        }
        Code::LintNoSecurityAgent => {
            "16 agents are configured to validate and ensure the security posture"
        }
        Code::LintNoLogAgent => {
            "17 application and operating system logs are centrally collated; 19 agents and logging for analysis"
        }
        Code::LintNoPcoipPolicy => {
            "18 PCoIP configuration is optimized for secure data encryption and clipboard controls"
        }
        Code::LintNoDescription => "21 a documented workflow for creating and updating images",
        _ => return None,
    })
}

/// `no-security-agent` for `recipe::lint::no-security-agent`.
fn rule_name(code: Code) -> &'static str {
    code.as_str().rsplit("::").next().unwrap_or_default()
}

impl Rules<'_> {
    /// The recipe's reason for switching the rule of `code` off, if it did.
    fn ignore_reason(&self, code: Code) -> Option<String> {
        let lint = self.r.recipe.lint.as_ref()?;
        lint.ignore
            .iter()
            .find(|i| i.value.rule.value == rule_name(code))
            .map(|i| i.value.reason.value.clone())
    }
}

/// Whether `text` names one of `words` as a whole word: `aide` is in `install aide`, not in `guide`;
/// `cloudwatch` is in `/opt/aws/amazon-cloudwatch-agent/etc`.
fn names_any(text: &str, words: &[&str]) -> bool {
    let text = text.to_ascii_lowercase();
    let tokens = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    tokens.filter(|t| !t.is_empty()).any(|t| {
        let parts: Vec<&str> = t.split(['-', '_']).collect();
        words.iter().any(|w| {
            let want: Vec<&str> = w.split('-').collect();
            parts.windows(want.len()).any(|win| win == want.as_slice())
        })
    })
}

/// Whether the recipe's image has one of `words` (agents): a baked step of the recipe or of a recipe
/// it is layered on names it, or the root base ships it (see [`crate::facts`]).
fn mentions(set: &RecipeSet, r: &LoadedRecipe, words: &[&str]) -> bool {
    let mut cur = Some(r);
    let mut hops = 0;
    while let Some(rec) = cur {
        let found = rec
            .steps
            .iter()
            .filter(|s| s.stage == Stage::Image)
            .any(|s| {
                step_texts(&s.step)
                    .iter()
                    .any(|t| names_any(&t.value, words))
            });
        let shipped = crate::facts::base_agents(&rec.recipe.base.value);
        if found || shipped.iter().any(|a| words.contains(a)) {
            return true;
        }
        hops += 1;
        cur = rec
            .parent
            .filter(|_| hops <= set.recipes.len())
            .map(|p| &set.recipes[p]);
    }
    false
}

fn finding(
    r: &LoadedRecipe,
    code: Code,
    span: recipe_model::Span,
    message: String,
    help: &str,
) -> Diagnostic {
    Diagnostic::new(code, message)
        .help(help)
        .label("here")
        .at(&r.source, span)
}

/// Lint one loaded recipe of a set (agents baked into the recipes it is layered on count).
pub fn lint_recipe(set: &RecipeSet, r: &LoadedRecipe) -> RecipeLint {
    let mut rules = Rules {
        r,
        results: Vec::new(),
        findings: Vec::new(),
        ignored: Vec::new(),
    };
    // The AppStream import route has no builder: its image is its AMI parent's, tested and cleaned
    // there (validate refuses tests on it), so the parent's tests and cleanup are the image's.
    let parent = r.parent.map(|p| &set.recipes[p]);
    let spec = set.targets.get(r.recipe.target.value);
    let imported = parent.is_some_and(|p| spec.is_some_and(|s| s.imports(&p.recipe)));
    let tested = if imported { parent.unwrap_or(r) } else { r };
    automation_and_cost(&mut rules, r, spec);
    efficiency(&mut rules, set, r);
    productivity(&mut rules, r, tested, imported);
    security(&mut rules, set, r, tested);
    supportability(&mut rules, r);
    RecipeLint {
        recipe: r.recipe.name.value.clone(),
        principles: scores(&rules.results),
        findings: rules.findings,
        ignored: rules.ignored,
    }
}

/// Automation and cost: no manual step, the smallest bundle volumes, no baked licence, retention.
fn automation_and_cost(rules: &mut Rules<'_>, r: &LoadedRecipe, spec: Option<&dyn TargetSpec>) {
    let rec = &r.recipe;
    let manual = r
        .steps
        .iter()
        .find(|s| matches!(s.step.value, Step::Manual(_)));
    rules.rule(&["Automation", "Scalability"], true, manual.is_none(), |r| {
        let s = manual.expect("failing rule has a manual step");
        Diagnostic::new(Code::LintManualStep, format!("`{name}` relies on a manual step", name = r.recipe.name.value))
            .help("script the task (a `shell`, `powershell` or `script` step) so every build is the same")
            .label("manual step")
            .at(&s.source, s.step.span)
    });

    for rule in spec.map(|s| s.lint_rules(&r.recipe)).unwrap_or_default() {
        target_rule(rules, rule);
    }

    let licence = r
        .steps
        .iter()
        .filter(|s| s.stage == Stage::Image)
        .find_map(|s| {
            step_texts(&s.step)
                .into_iter()
                .find(|t| LICENCE_KEY.is_match(t))
                .map(|t| (s, t.span))
        });
    rules.rule(&["Cost Optimization"], true, licence.is_none(), |_| {
        let (s, span) = licence.expect("failing rule has a licence");
        Diagnostic::new(Code::LintLicence, "a licence key appears to be baked into the image")
            .help("keep licence details outside the image: pass the key as a secret reference, or activate at launch (`stage: launch`)")
            .label("looks like a product key")
            .at(&s.source, span)
    });

    rules.rule(&["Cost Optimization"], true, rec.retain.as_ref().is_some_and(|r| r.keep.is_some()), |r| {
        finding(r, Code::LintNoRetention, r.recipe.name.span, "no retention: old versions are never retired".into(),
            "add `retain: { keep: 3 }` so older versions are deregistered and their snapshots deleted")
    });
}

/// Efficiency: a configuration-management agent, and launch steps where the strategy defers.
fn efficiency(rules: &mut Rules<'_>, set: &RecipeSet, r: &LoadedRecipe) {
    let strategy = r.recipe.strategy.value;
    let deferring = strategy != Strategy::Full;
    rules.rule(&["Efficient", "Scalability"], true, mentions(set, r, CM_AGENTS), |r| {
        finding(r, Code::LintNoCmAgent, r.recipe.strategy.span,
            format!("a `{}` image without a configuration-management agent", r.recipe.strategy.as_str()),
            "bake an agent (SSM Agent, Puppet, Chef, Ansible pull, Salt) that keeps instances configured after launch: seed 000 recommends one even when the image is fully baked")
    });
    rules.rule(&["Efficient"], deferring, r.steps.iter().any(|s| s.stage == Stage::Launch), |r| {
        finding(r, Code::LintNoBootstrap, r.recipe.strategy.span,
            format!("a `{}` image with nothing to run at launch", r.recipe.strategy.as_str()),
            "mark the steps that depend on runtime information `stage: launch`, or make the recipe `strategy: full`")
    });
}

/// Productivity: tests (on the AMI parent for the import route), and components over inline steps.
fn productivity(rules: &mut Rules<'_>, r: &LoadedRecipe, tested: &LoadedRecipe, imported: bool) {
    rules.rule(&["Productivity"], true, !tested.tests.is_empty(), |r| {
        let example = match r.recipe.os.value {
            Os::Linux => "`- shell: { run: systemctl is-active amazon-ssm-agent }`",
            Os::Windows => "`- powershell: { run: \"if ((Get-Service AmazonSSMAgent).Status -ne 'Running') { exit 1 }\" }`",
        };
        let help = if imported {
            format!("add `tests:` to the AMI recipe this image is imported from, such as {example}: the import route has no builder to test on")
        } else {
            format!("add `tests:` with checks such as {example}")
        };
        finding(r, Code::LintNoTests, r.recipe.name.span, "no tests validate the image before it is captured".into(), &help)
    });
    let inline = r
        .steps
        .iter()
        .filter(|s| {
            s.included_from.is_empty()
                && matches!(s.step.value, Step::Shell(_) | Step::PowerShell(_))
        })
        .count();
    let modular = r
        .steps
        .iter()
        .any(|s| !s.included_from.is_empty() || matches!(s.step.value, Step::Script(_)));
    rules.rule(&["Productivity"], r.steps.len() >= 4, modular || inline < 4, |r| {
        finding(r, Code::LintNoComponents, r.recipe.name.span, format!("{inline} inline command steps and no components"),
            "move reusable work into `components/` and `include` it, or into `script` files, so recipes share it")
    });
}

/// Security: a cleanup preset, a security agent, log forwarding, the PCoIP policy on WorkSpaces Linux.
fn security(rules: &mut Rules<'_>, set: &RecipeSet, r: &LoadedRecipe, tested: &LoadedRecipe) {
    let rec = &r.recipe;
    let spec = set.targets.get(rec.target.value);
    let cleanup = tested.recipe.cleanup.as_ref().map(|c| c.value);
    rules.rule(&["Security"], true, cleanup.is_some_and(|c| c != CleanupPreset::NONE), |r| {
        let preset = spec.map_or("…", |s| s.cleanup(rec.os.value).as_str());
        let span = r.recipe.cleanup.as_ref().map_or(r.recipe.name.span, |c| c.span);
        finding(r, Code::LintNoCleanup, span, "no clean-down before capture".into(), &format!(
            "add `cleanup: {preset}` so temporary files, logs, history and host keys do not ship in the image"))
    });
    let baked = crate::lint_content::baked(set, r);
    let security = crate::lint_content::security_agents(&baked);
    rules.rule(&["Security"], true, !security.is_empty(), |r| {
        finding(r, Code::LintNoSecurityAgent, r.recipe.name.span, "no security agent is enrolled or configured".into(),
            "bake an agent that reports the security posture with its enrolment or configuration (osquery with its osquery.conf or flags, CrowdStrike `falconctl -s --cid=…`, Wazuh with its manager, Defender onboarding, AIDE `aide --init`): lint reads the configuration, not the package name, and the SSM Agent a base ships checks nothing by itself")
    });
    let forwarding = crate::lint_content::forwarding_agents(&baked);
    rules.rule(&["Security", "Supportability"], true, !forwarding.is_empty(), |r| {
        finding(r, Code::LintNoLogAgent, r.recipe.name.span, "no log agent is configured to forward logs".into(),
            "configure a log agent to forward (rsyslog `omfwd` or `@@host:port`, the CloudWatch agent's `collect_list` with `fetch-config`, a Fluent Bit `[OUTPUT]`): an installed agent that keeps logs local collates nothing")
    });
    let ws_linux = spec.is_some_and(|s| s.lints(rec.os.value).contains(&"no-pcoip-policy"));
    let pcoip = crate::lint_content::pcoip_gaps(&baked);
    rules.rule(&["Security"], ws_linux, pcoip.is_none(), |r| {
        let gaps = pcoip.clone().unwrap_or_default();
        let message = match gaps.first() {
            Some(g) if g.starts_with("no ") => format!("no PCoIP policy: {g}"),
            _ => format!("the PCoIP policy lacks {}", gaps.join("; ")),
        };
        finding(r, Code::LintNoPcoipPolicy, r.recipe.name.span, message,
            "write /etc/pcoip-agent/pcoip-agent.conf with a `file` step that forces AES-256 (`pcoip.enable_aes_128_gcm = 0`, `pcoip.enable_salsa20_256_round12 = 0`) and sets `pcoip.server_clipboard_state` (seed 000, \"PCoIP Configuration\")")
    });
}

/// Supportability and flexibility: a description, the recommended tags.
fn supportability(rules: &mut Rules<'_>, r: &LoadedRecipe) {
    let rec = &r.recipe;
    rules.rule(&["Supportability"], true, rec.description.is_some(), |r| {
        finding(r, Code::LintNoDescription, r.recipe.name.span, "the recipe has no description".into(),
            "add `description:` saying what the image is for and who uses it: the recipe is the documented workflow")
    });
    let missing: Vec<&str> = RECOMMENDED_TAGS
        .iter()
        .filter(|(key, spellings)| {
            !TOOL_TAGS.contains(key) && !spellings.iter().any(|s| rec.image.tags.contains_key(*s))
        })
        .map(|(key, _)| *key)
        .collect();
    rules.rule(&["Flexibility", "Supportability"], true, missing.is_empty(), |r| {
        finding(r, Code::LintMissingTags, r.recipe.image.name.span, format!("the image lacks the tags {}", missing.join(", ")),
            "add them under `image.tags` (Name and Version are added by the tool) so images can be found and governed by tag")
    });
}

/// Each principle's score from 1 to 5: the share of its applicable rules that pass.
fn scores(results: &[(&'static str, Outcome)]) -> Vec<PrincipleScore> {
    PRINCIPLES
        .iter()
        .map(|p| {
            let applicable: Vec<&Outcome> = results
                .iter()
                .filter(|(q, o)| q == p && !matches!(o, Outcome::NotApplicable))
                .map(|(_, o)| o)
                .collect();
            let passed = applicable
                .iter()
                .filter(|o| matches!(o, Outcome::Pass))
                .count();
            let score = (!applicable.is_empty()).then(|| {
                let ratio = passed as f32 / applicable.len() as f32;
                1 + (ratio * 4.0).round() as u8
            });
            PrincipleScore {
                principle: p,
                score,
                passed,
                applicable: applicable.len(),
            }
        })
        .collect()
}

/// Lint every recipe of a set.
pub fn lint(set: &RecipeSet) -> Vec<RecipeLint> {
    set.recipes.iter().map(|r| lint_recipe(set, r)).collect()
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn agents_are_named_as_words_not_substrings() {
        assert!(names_any("dnf install -y aide", &["aide"]));
        assert!(!names_any("see the hardening guide", &["aide"]));
        assert!(names_any(
            "/opt/aws/amazon-cloudwatch-agent/etc/x.json",
            &["cloudwatch"]
        ));
        assert!(names_any(
            "Microsoft Defender Antivirus settings",
            &["defender"]
        ));
        assert!(names_any("systemctl enable salt-minion", &["salt-minion"]));
        assert!(!names_any("add salt to taste", &["salt-minion"]));
    }

    #[test]
    fn every_lint_code_is_a_rule_that_can_be_switched_off() {
        let codes: Vec<&str> = Code::ALL
            .iter()
            .filter(|c| c.as_str().starts_with("recipe::lint::") && **c != Code::LintIgnoreRule)
            .map(|c| rule_name(*c))
            .collect();
        let mut rules = RULES.to_vec();
        let mut sorted = codes.clone();
        rules.sort_unstable();
        sorted.sort_unstable();
        assert_eq!(rules, sorted);
    }
}
