//! A Windows machine as aws-sim models it without Windows (docs/sandbox.md, "Windows").
//!
//! Every AWS-RunPowerShellScript command is parsed with PowerShell's grammar
//! ([`recipe_powershell`]): one that does not parse runs nothing and fails with exit code 1, as
//! powershell.exe does. One that parses is read statement by statement, for what aws-sim can know:
//! - `$ErrorActionPreference = 'Stop'` and `-ErrorAction Stop` make a cmdlet's error end the
//!   script (exit 1); otherwise the error is written to stderr and the script goes on;
//! - lookups: `Get-SSMParameter` (GetParameter) and `Get-SECSecretValue` (GetSecretValue) raise an
//!   error for a name that does not exist in the machine's account and region;
//!   `Get-SSMParameterValue` (GetParameters) does not: it lists the name as invalid;
//! - `Invoke-WebRequest` (and `iwr`, `Start-BitsTransfer`) cannot fetch `s3://` URLs;
//! - `winget` is not there: Run Command runs as LocalSystem, which has no per-user app, and
//!   Windows Server does not ship it;
//! - the machine's files, as far as commands name them with literal paths: `Test-Path`,
//!   `New-Item`, `Remove-Item`; the launch agent's files come with the AMI (EC2Launch v2 on
//!   Windows Server 2022 and later, EC2Launch v1 on 2016 and 2019, EC2Config before), and a path
//!   under one of those agents' folders that the machine lacks is not found;
//! - `exit 3010` asks the agent to reboot and run the script again
//!   (https://docs.aws.amazon.com/systems-manager/latest/userguide/send-commands-reboot.html);
//!   a reboot by any other means (`Restart-Computer`, `shutdown /r`) leaves the command's status
//!   not updated: it stays InProgress until its execution timeout;
//! - sysprep with shutdown (EC2Launch v2 `sysprep --shutdown`, v1 `SysprepInstance.ps1`, EC2Config
//!   `-sysprep`) and `Stop-Computer` / `shutdown /s` stop the machine; the command never reports
//!   Success.
//!
//! An `if` runs a branch only when its condition is a `Test-Path` of a literal path; aws-sim
//! cannot evaluate any other condition, so it runs no branch of such an `if`. Loops, functions
//! and script blocks are not entered. Anything else is taken to succeed.

use std::collections::BTreeSet;

use recipe_powershell::{Node, Script};

/// What the model asks of the cloud the machine is in.
pub trait Cloud {
    /// Whether SSM parameter `name` exists.
    fn parameter(&self, name: &str) -> bool;
    /// Whether Secrets Manager secret `id` (name or ARN) exists and can be read.
    fn secret(&self, id: &str) -> bool;
}

/// How a command leaves the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Running, as before.
    None,
    /// Rebooted by other means than `exit 3010`: the command's status is not updated.
    Restarted,
    /// Shut down (sysprep, Stop-Computer): the command never reports.
    Shutdown,
}

/// How a command ended.
#[derive(Clone, Debug)]
pub struct Ran {
    /// `Success`, `Failed`, or `InProgress` (never ends: see [`Effect`]).
    pub status: &'static str,
    /// The exit code.
    pub code: i64,
    /// What the script wrote.
    pub stdout: String,
    /// Its errors.
    pub stderr: String,
    /// How it leaves the machine.
    pub effect: Effect,
    /// How many times the agent rebooted for `exit 3010`.
    pub reboots: u32,
}

/// The files of a Windows AMI's launch agent, by the AMI's name (AWS's Windows AMIs:
/// https://docs.aws.amazon.com/ec2/latest/windows-ami-reference/windows-ami-reference.html and the
/// launch agents' pages: EC2Launch v2 on Windows Server 2022 and later, EC2Launch v1 on 2016 and
/// 2019, EC2Config on 2012 R2 and before).
pub fn launch_agent_files(image_name: &str) -> Vec<String> {
    let v2 = ["c:\\program files\\amazon\\ec2launch\\ec2launch.exe"];
    let v1 = [
        "c:\\programdata\\amazon\\ec2-windows\\launch\\scripts\\initializeinstance.ps1",
        "c:\\programdata\\amazon\\ec2-windows\\launch\\scripts\\sysprepinstance.ps1",
    ];
    let config = ["c:\\program files\\amazon\\ec2configservice\\ec2config.exe"];
    let files: &[&str] = if ["2022", "2025"]
        .iter()
        .any(|v| image_name.contains(&format!("Windows_Server-{v}")))
    {
        &v2
    } else if ["2016", "2019"]
        .iter()
        .any(|v| image_name.contains(&format!("Windows_Server-{v}")))
    {
        &v1
    } else if image_name.contains("Windows_Server-2012") {
        &config
    } else {
        &[]
    };
    files.iter().map(|f| (*f).to_string()).collect()
}

/// Folders whose contents come only with a launch agent: a path under one that the machine lacks
/// is not found.
const AGENT_FOLDERS: [&str; 3] = [
    "c:\\program files\\amazon\\ec2launch\\",
    "c:\\programdata\\amazon\\ec2-windows\\launch\\",
    "c:\\program files\\amazon\\ec2configservice\\",
];

/// The Windows Update service is disabled (AppStream's Windows base images ship so: seed 002, and
/// "Keep your AppStream 2.0 image up to date").
pub const UPDATE_SERVICE_OFF: &str = "service:wuauserv:disabled";

/// The most reboots one command may ask for before aws-sim gives up on it (the agent would go on
/// until the execution timeout).
const MAX_REBOOTS: u32 = 10;

/// Run `script` on a machine with `disk`: parse it, then read it as the module doc says.
pub fn run(script: &str, disk: &mut BTreeSet<String>, cloud: &dyn Cloud) -> Ran {
    let parsed = match recipe_powershell::parse(script) {
        Ok(p) => p,
        Err(e) => return ended("Failed", 1, String::new(), format!("{e}\n")),
    };
    let mut reboots = 0;
    loop {
        let mut x = Exec {
            s: &parsed,
            stop: false,
            disk,
            cloud,
            stdout: String::new(),
            stderr: String::new(),
        };
        let flow = x.block(parsed.root());
        let (stdout, stderr) = (x.stdout, x.stderr);
        let ran = match flow {
            Flow::Exit(3010) if reboots < MAX_REBOOTS => {
                reboots += 1;
                continue;
            }
            Flow::Exit(3010) => ended("InProgress", 0, stdout, stderr),
            Flow::Next | Flow::Exit(0) => ended("Success", 0, stdout, stderr),
            Flow::Exit(n) => ended("Failed", n, stdout, stderr),
            Flow::Throw(m) => ended("Failed", 1, stdout, format!("{stderr}{m}\n")),
            Flow::Down(effect) => Ran {
                effect,
                ..ended("InProgress", 0, stdout, stderr)
            },
        };
        return Ran { reboots, ..ran };
    }
}

fn ended(status: &'static str, code: i64, stdout: String, stderr: String) -> Ran {
    Ran {
        status,
        code,
        stdout,
        stderr,
        effect: Effect::None,
        reboots: 0,
    }
}

/// What a statement leaves the script to do.
enum Flow {
    Next,
    Exit(i64),
    Throw(String),
    Down(Effect),
}

struct Exec<'a> {
    s: &'a Script,
    /// `$ErrorActionPreference = 'Stop'`.
    stop: bool,
    disk: &'a mut BTreeSet<String>,
    cloud: &'a dyn Cloud,
    stdout: String,
    stderr: String,
}

/// A command's words: `-Name` parameters (lower-cased, without the dash) and values (`None`
/// when not a literal aws-sim can read).
#[derive(Debug)]
enum Word {
    Param(String),
    Value(Option<String>),
}

impl Exec<'_> {
    fn block(&mut self, list: Node<'_>) -> Flow {
        let mut cursor = list.walk();
        let statements: Vec<Node<'_>> = list.named_children(&mut cursor).collect();
        for st in statements {
            let flow = match st.kind() {
                "statement_list" => self.block(st),
                "if_statement" => self.branch(st),
                "flow_control_statement" => self.flow(st),
                "try_statement" | "trap_statement" | "function_statement" | "foreach_statement"
                | "for_statement" | "while_statement" | "do_statement" | "switch_statement" => {
                    Flow::Next
                }
                "comment" => Flow::Next,
                _ => self.statement(st),
            };
            if !matches!(flow, Flow::Next) {
                return flow;
            }
        }
        Flow::Next
    }

    fn flow(&mut self, st: Node<'_>) -> Flow {
        let text = self.s.text_of(st).trim();
        let lower = text.to_ascii_lowercase();
        let rest = text.split_once(char::is_whitespace).map(|(_, r)| r.trim());
        if lower.starts_with("exit") {
            return Flow::Exit(rest.and_then(|r| r.parse().ok()).unwrap_or(0));
        }
        if lower.starts_with("throw") {
            let message = rest.map(|r| literal(r).unwrap_or_else(|| r.to_string()));
            return Flow::Throw(message.unwrap_or_else(|| "ScriptHalted".into()));
        }
        if lower.starts_with("return") {
            return Flow::Exit(0);
        }
        Flow::Next
    }

    /// An `if` whose conditions aws-sim can evaluate (`Test-Path 'literal'`): the branch taken.
    fn branch(&mut self, st: Node<'_>) -> Flow {
        let mut cursor = st.walk();
        let parts: Vec<Node<'_>> = st.named_children(&mut cursor).collect();
        let mut clauses: Vec<(Option<Node<'_>>, Node<'_>)> = Vec::new();
        let mut condition = None;
        for part in parts {
            match part.kind() {
                "statement_block" => clauses.push((condition.take(), part)),
                "elseif_clauses" | "elseif_clause" | "else_clause" => {
                    for n in recipe_powershell::descendants(part, &["statement_block"]) {
                        match n.kind() {
                            "statement_block"
                                if n.parent().is_some_and(|p| p.kind() != "statement_block") =>
                            {
                                let c = if n.parent().is_some_and(|p| p.kind() == "else_clause") {
                                    None
                                } else {
                                    condition.take()
                                };
                                clauses.push((c, n));
                            }
                            "pipeline"
                                if n.parent().is_some_and(|p| p.kind() == "elseif_clause") =>
                            {
                                condition = Some(n);
                            }
                            _ => {}
                        }
                    }
                }
                _ => condition = Some(part),
            }
        }
        for (cond, body) in clauses {
            let holds = match cond {
                None => Some(true),
                Some(c) => self.test(c),
            };
            match holds {
                Some(true) => return self.block(body),
                Some(false) => {}
                None => return Flow::Next,
            }
        }
        Flow::Next
    }

    /// A condition aws-sim can evaluate: `Test-Path` of a literal path.
    fn test(&mut self, cond: Node<'_>) -> Option<bool> {
        let commands: Vec<Node<'_>> = recipe_powershell::descendants(cond, &["script_block"])
            .into_iter()
            .filter(|n| n.kind() == "command")
            .collect();
        let [command] = commands.as_slice() else {
            return None;
        };
        let (name, words) = self.words(*command);
        let whole = self.s.text_of(cond).trim().len() == self.s.text_of(*command).trim().len();
        if !name.eq_ignore_ascii_case("test-path") || !whole {
            return None;
        }
        let path = path_arg(&words)?;
        Some(self.exists(&path))
    }

    fn exists(&self, path: &str) -> bool {
        let p = norm(path);
        let under = format!("{p}\\");
        self.disk.iter().any(|f| *f == p || f.starts_with(&under))
    }

    /// A statement other than flow control: `$ErrorActionPreference`, then each command in it.
    fn statement(&mut self, st: Node<'_>) -> Flow {
        let text = self.s.text_of(st).trim().to_ascii_lowercase();
        if let Some(value) = text.strip_prefix("$erroractionpreference") {
            self.stop = value.contains("'stop'") || value.contains("\"stop\"");
            return Flow::Next;
        }
        let skip = ["script_block", "statement_block"];
        let commands: Vec<Node<'_>> = recipe_powershell::descendants(st, &skip)
            .into_iter()
            .filter(|n| n.kind() == "command")
            .collect();
        for c in commands {
            let flow = self.command(c);
            if !matches!(flow, Flow::Next) {
                return flow;
            }
        }
        Flow::Next
    }

    /// One command: its name (or invoked path) and words.
    fn words(&self, c: Node<'_>) -> (String, Vec<Word>) {
        let name = c
            .child_by_field_name("command_name")
            .map(|n| {
                let t = self.s.text_of(n);
                literal(t).unwrap_or_else(|| t.to_string())
            })
            .unwrap_or_default();
        let mut words = Vec::new();
        if let Some(elements) = c.child_by_field_name("command_elements") {
            let mut cursor = elements.walk();
            for e in elements.named_children(&mut cursor) {
                let t = self.s.text_of(e);
                match e.kind() {
                    "command_argument_sep" => {}
                    "command_parameter" => {
                        let p = t.trim_start_matches('-').to_ascii_lowercase();
                        match p.split_once(':') {
                            Some((k, v)) => {
                                words.push(Word::Param(k.to_string()));
                                words.push(Word::Value(literal(v)));
                            }
                            None => words.push(Word::Param(p)),
                        }
                    }
                    _ => words.push(Word::Value(literal(t))),
                }
            }
        }
        (name, words)
    }

    fn command(&mut self, c: Node<'_>) -> Flow {
        let (name, words) = self.words(c);
        let lower = name.to_ascii_lowercase();
        let outcome = match lower.as_str() {
            "get-ssmparameter" => self.lookup(&words, "name", true),
            "get-secsecretvalue" => self.lookup(&words, "secretid", false),
            "invoke-webrequest" | "iwr" | "start-bitstransfer" => fetch(&words),
            "winget" | "winget.exe" => Err(not_recognized(&name)),
            "test-path" => Ok(()),
            "new-item" | "ni" | "mkdir" | "md" => {
                if let Some(p) = path_arg(&words) {
                    self.disk.insert(norm(&p));
                }
                Ok(())
            }
            "remove-item" | "rm" | "del" | "rmdir" | "rd" => {
                if let Some(p) = path_arg(&words) {
                    let p = norm(&p);
                    let under = format!("{p}\\");
                    self.disk.retain(|f| *f != p && !f.starts_with(&under));
                }
                Ok(())
            }
            "set-service" => {
                self.service(&words);
                Ok(())
            }
            "get-windowsupdate" | "install-windowsupdate" | "get-wuinstall" => self.updates(&words),
            "restart-computer" => return Flow::Down(Effect::Restarted),
            "stop-computer" => return Flow::Down(Effect::Shutdown),
            "shutdown" | "shutdown.exe" => return shutdown(&words),
            _ => return self.invoked(&name, &words),
        };
        match outcome {
            Ok(()) => Flow::Next,
            Err(e) => self.error(&words, e),
        }
    }

    /// A path invoked with `&` or by name: a launch agent's file the machine lacks is not found;
    /// sysprep with shutdown stops the machine.
    fn invoked(&mut self, name: &str, words: &[Word]) -> Flow {
        let path = norm(&expand(name));
        if !AGENT_FOLDERS.iter().any(|f| path.starts_with(f)) {
            return Flow::Next;
        }
        if !self.exists(&path) {
            return self.error(words, not_recognized(name));
        }
        let has = |w: &str| {
            words.iter().any(|x| match x {
                Word::Value(Some(v)) => v.eq_ignore_ascii_case(w),
                Word::Param(p) => p == w.trim_start_matches('-'),
                Word::Value(None) => false,
            })
        };
        let sysprep = (path.ends_with("ec2launch.exe")
            && has("sysprep")
            && (has("--shutdown=true") || has("--shutdown")))
            || (path.ends_with("sysprepinstance.ps1") && !has("-noshutdown"))
            || (path.ends_with("ec2config.exe") && has("-sysprep"));
        if sysprep {
            Flow::Down(Effect::Shutdown)
        } else {
            Flow::Next
        }
    }

    /// `Set-Service wuauserv -StartupType …`: the Windows Update service on or off.
    fn service(&mut self, words: &[Word]) {
        let name = named(words, "name").or_else(|| positional(words, 0));
        if !name.is_some_and(|n| n.eq_ignore_ascii_case("wuauserv")) {
            return;
        }
        match named(words, "startuptype").map(|t| t.to_ascii_lowercase()) {
            Some(t) if t == "disabled" => {
                self.disk.insert(UPDATE_SERVICE_OFF.to_string());
            }
            Some(_) => {
                self.disk.remove(UPDATE_SERVICE_OFF);
            }
            None => {}
        }
    }

    /// Installing updates needs the Windows Update service: with it disabled, the Windows Update
    /// Agent fails with 0x80070422 ("the service cannot be started ... because it is disabled").
    fn updates(&self, words: &[Word]) -> Result<(), String> {
        let installs = words
            .iter()
            .any(|w| matches!(w, Word::Param(p) if p == "install"));
        if self.disk.contains(UPDATE_SERVICE_OFF) && installs {
            return Err("Get-WindowsUpdate : Exception from HRESULT: 0x80070422 (the Windows Update service is disabled)".into());
        }
        Ok(())
    }

    /// A lookup that fails for a name that does not exist (GetParameter: ParameterNotFound;
    /// GetSecretValue: ResourceNotFoundException).
    fn lookup(&self, words: &[Word], param: &str, ssm: bool) -> Result<(), String> {
        let Some(name) = named(words, param).or_else(|| positional(words, 0)) else {
            return Ok(());
        };
        let found = if ssm {
            self.cloud.parameter(&name)
        } else {
            self.cloud.secret(&name)
        };
        match (found, ssm) {
            (true, _) => Ok(()),
            (false, true) => Err(format!(
                "Get-SSMParameter : Parameter {name} not found.\n    + CategoryInfo          : InvalidOperation: (Amazon.PowerShe...SMParameterCmdlet:GetSSMParameterCmdlet) [Get-SSMParameter], InvalidOperationException\n    + FullyQualifiedErrorId : Amazon.SimpleSystemsManagement.Model.ParameterNotFoundException,Amazon.PowerShell.Cmdlets.SSM.GetSSMParameterCmdlet"
            )),
            (false, false) => Err(format!(
                "Get-SECSecretValue : Secrets Manager can't find the specified secret.\n    + CategoryInfo          : InvalidOperation: (Amazon.PowerShe...etValueCmdlet:GetSECSecretValueCmdlet) [Get-SECSecretValue], InvalidOperationException\n    + FullyQualifiedErrorId : Amazon.SecretsManager.Model.ResourceNotFoundException,Amazon.PowerShell.Cmdlets.SEC.GetSECSecretValueCmdlet ({name})"
            )),
        }
    }

    /// A cmdlet's error: terminating under `Stop`, else written to stderr (`SilentlyContinue` and
    /// `Ignore` drop it).
    fn error(&mut self, words: &[Word], message: String) -> Flow {
        let action = named(words, "erroraction").or_else(|| named(words, "ea"));
        match action.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("stop") => Flow::Throw(message),
            Some("silentlycontinue" | "ignore") => Flow::Next,
            _ if self.stop => Flow::Throw(message),
            _ => {
                self.stderr.push_str(&message);
                self.stderr.push('\n');
                Flow::Next
            }
        }
    }
}

fn not_recognized(name: &str) -> String {
    format!(
        "{name} : The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.\n    + CategoryInfo          : ObjectNotFound: ({name}:String) [], CommandNotFoundException\n    + FullyQualifiedErrorId : CommandNotFoundException"
    )
}

/// `Invoke-WebRequest` of an `s3://` URL: the scheme is not one it speaks.
fn fetch(words: &[Word]) -> Result<(), String> {
    let url = named(words, "uri")
        .or_else(|| named(words, "source"))
        .or_else(|| positional(words, 0));
    match url {
        Some(u) if u.to_ascii_lowercase().starts_with("s3://") => Err(format!(
            "Invoke-WebRequest : The URI prefix is not recognized. ({u})\n    + CategoryInfo          : NotImplemented: (:) [Invoke-WebRequest], NotSupportedException\n    + FullyQualifiedErrorId : System.NotSupportedException,Microsoft.PowerShell.Commands.InvokeWebRequestCommand"
        )),
        _ => Ok(()),
    }
}

/// `shutdown /r` restarts, `shutdown /s` shuts down; other uses change nothing.
fn shutdown(words: &[Word]) -> Flow {
    let has = |f: &str| {
        words
            .iter()
            .any(|w| matches!(w, Word::Value(Some(v)) if v.eq_ignore_ascii_case(f)))
    };
    if has("/r") || has("-r") {
        Flow::Down(Effect::Restarted)
    } else if has("/s") || has("-s") {
        Flow::Down(Effect::Shutdown)
    } else {
        Flow::Next
    }
}

/// The value after `-param`.
fn named(words: &[Word], param: &str) -> Option<String> {
    let at = words
        .iter()
        .position(|w| matches!(w, Word::Param(p) if p == param))?;
    match words.get(at + 1) {
        Some(Word::Value(v)) => v.clone(),
        _ => None,
    }
}

/// The `n`th value that follows no parameter (switches like `-Force` are taken to stand alone).
fn positional(words: &[Word], n: usize) -> Option<String> {
    let mut seen = 0;
    let mut after_param = false;
    for w in words {
        match w {
            Word::Param(p) => after_param = !SWITCHES.contains(&p.as_str()),
            Word::Value(v) if !after_param => {
                if seen == n {
                    return v.clone();
                }
                seen += 1;
            }
            Word::Value(_) => after_param = false,
        }
    }
    None
}

/// Switch parameters of the cmdlets the model reads: they take no value.
const SWITCHES: [&str; 6] = [
    "force",
    "recurse",
    "usebasicparsing",
    "passthru",
    "confirm",
    "whatif",
];

/// The path a file cmdlet names: `-Path`, `-LiteralPath`, or its first positional value.
fn path_arg(words: &[Word]) -> Option<String> {
    named(words, "path")
        .or_else(|| named(words, "literalpath"))
        .or_else(|| positional(words, 0))
        .map(|p| expand(&p))
}

/// A path as the model keeps it: environment variables expanded, lower case (Windows paths are
/// case-insensitive), `\` separators, no trailing separator.
fn norm(path: &str) -> String {
    expand(path)
        .replace('/', "\\")
        .to_ascii_lowercase()
        .trim_end_matches('\\')
        .to_string()
}

/// The environment variables of LocalSystem that paths use.
fn expand(path: &str) -> String {
    let vars = [
        ("$env:programfiles", "C:\\Program Files"),
        ("${env:programfiles}", "C:\\Program Files"),
        ("$env:programdata", "C:\\ProgramData"),
        ("${env:programdata}", "C:\\ProgramData"),
        ("$env:systemroot", "C:\\Windows"),
        ("$env:windir", "C:\\Windows"),
        ("%programdata%", "C:\\ProgramData"),
        ("%programfiles%", "C:\\Program Files"),
    ];
    let mut out = path.to_string();
    for (var, value) in vars {
        while let Some(at) = out.to_ascii_lowercase().find(var) {
            out.replace_range(at..at + var.len(), value);
        }
    }
    out
}

/// The value of a literal word: `'single'` (with `''`), `"double"` without expansions other than
/// the environment variables [`expand`] knows, or a bare word. `None` when it holds an expression.
fn literal(text: &str) -> Option<String> {
    let t = text.trim();
    if let Some(body) = t.strip_prefix('\'').and_then(|b| b.strip_suffix('\'')) {
        return Some(body.replace("''", "'"));
    }
    if let Some(body) = t.strip_prefix('"').and_then(|b| b.strip_suffix('"')) {
        let expanded = expand(body);
        return (!expanded.contains('$') && !expanded.contains('`')).then_some(expanded);
    }
    let bare = !t.is_empty() && !t.starts_with(['$', '(', '@', '{', '[']);
    bare.then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Account;
    impl Cloud for Account {
        fn parameter(&self, name: &str) -> bool {
            name == "/hr/db"
        }
        fn secret(&self, id: &str) -> bool {
            id == "hr/token"
        }
    }

    fn on(image: &str, script: &str) -> (Ran, BTreeSet<String>) {
        let mut disk: BTreeSet<String> = launch_agent_files(image).into_iter().collect();
        (run(script, &mut disk, &Account), disk)
    }

    const WS2022: &str = "Windows_Server-2022-English-Full-Base-2026.01.01";

    #[test]
    fn a_script_that_does_not_parse_fails_with_the_parser_message() {
        let (r, _) = on(WS2022, "$env:X = '$((Get-SSMParameter -Name '/a').Value)'");
        assert_eq!((r.status, r.code), ("Failed", 1));
        assert!(r.stderr.starts_with("At line:1 char:"), "{}", r.stderr);
    }

    #[test]
    fn missing_lookups_fail_under_stop_and_only_then() {
        let stop = "$ErrorActionPreference = 'Stop'\n$a = (Get-SSMParameter -Name '/hr/db' -WithDecryption $true).Value\n$b = (Get-SECSecretValue -SecretId 'hr/missing').SecretString\nexit 0";
        let (r, _) = on(WS2022, stop);
        assert_eq!(r.status, "Failed");
        assert!(
            r.stderr.contains("ResourceNotFoundException"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("hr/missing"));
        let (r, _) = on(WS2022, "$b = (Get-SSMParameter -Name '/nope').Value");
        assert_eq!(r.status, "Success");
        assert!(r.stderr.contains("Parameter /nope not found"));
        let (r, _) = on(
            WS2022,
            "$b = (Get-SSMParameter -Name '/nope' -ErrorAction Stop).Value",
        );
        assert_eq!(r.status, "Failed");
        let (r, _) = on(
            WS2022,
            "$ErrorActionPreference = 'Stop'\n$b = Get-SSMParameterValue -Name '/nope'",
        );
        assert_eq!(
            r.status, "Success",
            "GetParameters lists a missing name as invalid"
        );
    }

    #[test]
    fn reboots_report_only_through_exit_3010() {
        let marker = "if (Test-Path 'C:\\ProgramData\\recipe\\r1') { Remove-Item 'C:\\ProgramData\\recipe\\r1'; exit 0 }\nNew-Item -ItemType File -Force -Path 'C:\\ProgramData\\recipe\\r1' | Out-Null\nexit 3010";
        let (r, disk) = on(WS2022, marker);
        assert_eq!((r.status, r.reboots), ("Success", 1));
        assert!(!disk.contains("c:\\programdata\\recipe\\r1"));
        let (r, _) = on(WS2022, "exit 3010");
        assert_eq!(
            r.status, "InProgress",
            "a script that always asks for a reboot never ends"
        );
        let (r, _) = on(WS2022, "Restart-Computer -Force");
        assert_eq!((r.status, r.effect), ("InProgress", Effect::Restarted));
    }

    #[test]
    fn sysprep_needs_the_launch_agent_the_ami_ships() {
        let v2 = "& 'C:\\Program Files\\Amazon\\EC2Launch\\EC2Launch.exe' sysprep --shutdown=true";
        let (r, _) = on(WS2022, v2);
        assert_eq!((r.status, r.effect), ("InProgress", Effect::Shutdown));
        let (r, _) = on(
            "Windows_Server-2019-English-Full-Base-2026.01.01",
            &format!("$ErrorActionPreference = 'Stop'\n{v2}"),
        );
        assert_eq!(r.status, "Failed");
        assert!(
            r.stderr.contains("CommandNotFoundException"),
            "{}",
            r.stderr
        );
        let v1 = "& \"$env:ProgramData\\Amazon\\EC2-Windows\\Launch\\Scripts\\InitializeInstance.ps1\" -Schedule\n& \"$env:ProgramData\\Amazon\\EC2-Windows\\Launch\\Scripts\\SysprepInstance.ps1\"";
        let (r, _) = on("Windows_Server-2016-English-Full-Base-2026.01.01", v1);
        assert_eq!(r.effect, Effect::Shutdown);
        let chosen = "if (Test-Path 'C:\\Program Files\\Amazon\\EC2Launch\\EC2Launch.exe') { exit 7 } elseif (Test-Path 'C:\\ProgramData\\Amazon\\EC2-Windows\\Launch\\Scripts\\SysprepInstance.ps1') { exit 8 } else { throw 'none' }";
        assert_eq!(on(WS2022, chosen).0.code, 7);
        assert_eq!(
            on("Windows_Server-2019-English-Full-Base", chosen).0.code,
            8
        );
        let none = on("Windows_Server-2012-R2_RTM-English-64Bit-Base", chosen).0;
        assert_eq!((none.status, none.stderr.as_str()), ("Failed", "none\n"));
    }

    #[test]
    fn updates_need_the_update_service_on() {
        let update =
            "$ErrorActionPreference = 'Stop'\nGet-WindowsUpdate -Install -AcceptAll -IgnoreReboot";
        let mut disk = BTreeSet::from([UPDATE_SERVICE_OFF.to_string()]);
        assert_eq!(run(update, &mut disk, &Account).status, "Failed");
        let on = format!(
            "Set-Service -Name wuauserv -StartupType Manual\n{update}\nSet-Service -Name wuauserv -StartupType Disabled"
        );
        assert_eq!(run(&on, &mut disk, &Account).status, "Success");
        assert!(disk.contains(UPDATE_SERVICE_OFF), "turned off again after");
    }

    #[test]
    fn s3_urls_and_winget_fail() {
        let (r, _) = on(
            WS2022,
            "$ErrorActionPreference = 'Stop'\nInvoke-WebRequest -UseBasicParsing -Uri 's3://b/k' -OutFile 'C:\\k'",
        );
        assert_eq!(r.status, "Failed");
        assert!(r.stderr.contains("URI prefix is not recognized"));
        let (r, _) = on(
            WS2022,
            "$ErrorActionPreference = 'Stop'\nRead-S3Object -BucketName 'b' -Key 'k' -File 'C:\\k'",
        );
        assert_eq!(r.status, "Success");
        let (r, _) = on(
            WS2022,
            "$ErrorActionPreference = 'Stop'\nwinget install --silent Git.Git",
        );
        assert_eq!(r.status, "Failed");
    }
}
