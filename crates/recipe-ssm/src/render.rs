//! Rendering steps into the scripts SSM runs: bash on Linux, PowerShell on Windows.
//!
//! Secrets stay references: `${secret.NAME}` becomes a lookup run on the builder (SSM Parameter Store
//! or Secrets Manager through the instance's role), so no value passes through the tool.

pub use recipe_plan::BuildValues;
use std::collections::BTreeMap;

use recipe_loader::LoadedRecipe;
use recipe_model::{Os, PackageManager, SecretRef, Step};

mod appstream;

use appstream::app_script;
pub use appstream::{image_assistant, image_assistant_call, session_start_installer};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A value quoted for bash, its `${secret.NAME}` references left outside the single quotes (in
/// double quotes), so that the lookup they become runs on the builder: `Bearer ${secret.t}` becomes
/// `'Bearer '"${secret.t}"`.
fn sh_quote_with_secrets(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${secret.") {
        let Some(len) = rest[at..].find('}') else {
            break;
        };
        if at > 0 {
            out.push_str(&sh_quote(&rest[..at]));
        }
        out.push('"');
        out.push_str(&rest[at..at + len + 1]);
        out.push('"');
        rest = &rest[at + len + 1..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push_str(&sh_quote(rest));
    }
    out
}

fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A value quoted for PowerShell, its `${secret.NAME}` references left outside the single quotes,
/// joined with `+`, so that the variable they become is read on the builder: `Bearer ${secret.t}`
/// becomes `('Bearer ' + ${secret.t})`.
fn ps_quote_with_secrets(s: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("${secret.") {
        let Some(len) = rest[at..].find('}') else {
            break;
        };
        if at > 0 || parts.is_empty() {
            parts.push(ps_quote(&rest[..at]));
        }
        parts.push(rest[at..at + len + 1].to_string());
        rest = &rest[at + len + 1..];
    }
    if parts.is_empty() {
        return ps_quote(rest);
    }
    if !rest.is_empty() {
        parts.push(ps_quote(rest));
    }
    if parts.len() == 2 && parts[0] == "''" {
        return parts.swap_remove(1);
    }
    format!("({})", parts.join(" + "))
}

/// The variable a secret's value is read into on the builder, the same in bash and PowerShell
/// (written `${…}` in both).
fn secret_variable(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("recipe_secret_{clean}")
}

/// One secret's lookup on the builder, into [`secret_variable`]: a lookup that fails (the secret is
/// missing, the role may not read it, throttling) fails the step, naming the secret and where it
/// is looked up, never its value. In bash the assignment stands alone, so its status is the
/// lookup's (`export X="$(…)"` would hide it); in PowerShell `Get-SSMParameter` (GetParameter)
/// and `Get-SECSecretValue` raise an error for a missing name, and `-ErrorAction Stop` makes it
/// end the script.
fn lookup_line(name: &str, secret: &SecretRef, os: Os) -> String {
    let var = secret_variable(name);
    match (secret, os) {
        (SecretRef::SsmParameter(p), Os::Linux) => format!(
            "{var}=$(aws ssm get-parameter --with-decryption --name {} --query Parameter.Value --output text) || {{ echo {} >&2; exit 1; }}\n",
            sh_quote(p),
            sh_quote(&format!(
                "recipe: cannot read secret {name} (SSM parameter {p})"
            ))
        ),
        (SecretRef::SecretsManager(s), Os::Linux) => format!(
            "{var}=$(aws secretsmanager get-secret-value --secret-id {} --query SecretString --output text) || {{ echo {} >&2; exit 1; }}\n",
            sh_quote(s),
            sh_quote(&format!(
                "recipe: cannot read secret {name} (Secrets Manager secret {s})"
            ))
        ),
        (SecretRef::SsmParameter(p), Os::Windows) => format!(
            "${{{var}}} = (Get-SSMParameter -Name {} -WithDecryption $true -ErrorAction Stop).Value\n",
            ps_quote(p)
        ),
        (SecretRef::SecretsManager(s), Os::Windows) => format!(
            "${{{var}}} = (Get-SECSecretValue -SecretId {} -ErrorAction Stop).SecretString\n",
            ps_quote(s)
        ),
    }
}

/// Replace each `${secret.NAME}` in `text` with its variable, and return the lookups that set
/// those variables (to run before `text`), one per secret the text uses.
fn secrets(text: &str, r: &LoadedRecipe, os: Os) -> (String, String) {
    let mut out = text.to_string();
    let mut lookups = String::new();
    for (name, secret) in &r.recipe.secrets {
        let needle = format!("${{secret.{name}}}");
        if !out.contains(&needle) {
            continue;
        }
        lookups.push_str(&lookup_line(name, &secret.value, os));
        out = out.replace(&needle, &format!("${{{}}}", secret_variable(name)));
    }
    (lookups, out)
}

fn env_lines(env: &BTreeMap<String, recipe_model::Node<String>>, os: Os) -> String {
    env.iter()
        .map(|(k, v)| match os {
            Os::Linux => format!(
                "export {k}={}\n",
                if v.contains("$(") {
                    format!("\"{}\"", v.value)
                } else {
                    sh_quote_with_secrets(v)
                }
            ),
            Os::Windows => format!(
                "$env:{k} = {}\n",
                if v.contains("$(") {
                    format!("\"{}\"", v.value)
                } else {
                    ps_quote_with_secrets(v)
                }
            ),
        })
        .collect()
}

/// Script and file content up to this size (before base64) is inlined in the step's command; larger
/// content is uploaded to the builder first, in chunks ([`upload_scripts`]).
pub const INLINE_LIMIT: usize = 48 * 1024;

/// Base64 characters per upload command.
const CHUNK: usize = 32 * 1024;

/// A payload uploaded to the builder before its step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staged {
    /// Where it waits on the builder, as base64 text.
    pub path: String,
    /// Whether the step deletes it once used: image-stage steps do; launch-stage steps need it at
    /// first boot, so it stays in the image.
    pub consume: bool,
}

/// Where an uploaded payload is kept on the builder.
pub fn stage_path(os: Os, name: &str) -> String {
    match os {
        Os::Linux => format!("/var/lib/recipe/stage/{name}.b64"),
        Os::Windows => format!("C:\\ProgramData\\recipe\\stage\\{name}.b64"),
    }
}

/// The commands that upload `bytes` to `path` on the builder, a chunk each: the first one starts the
/// file afresh, so an upload repeated after a retry or a resume does not append twice.
pub fn upload_scripts(os: Os, path: &str, bytes: &[u8]) -> Vec<String> {
    let text = base64(bytes);
    let chunks: Vec<&str> = text
        .as_bytes()
        .chunks(CHUNK)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| match os {
            Os::Linux => {
                let start = if i == 0 {
                    format!("install -d -m 0700 \"$(dirname {p})\"\n: > {p}\n", p = sh_quote(path))
                } else {
                    String::new()
                };
                format!("set -euo pipefail\n{start}printf '%s' '{chunk}' >> {}", sh_quote(path))
            }
            Os::Windows => {
                let start = if i == 0 {
                    format!(
                        "New-Item -ItemType Directory -Force -Path (Split-Path {p}) | Out-Null\nSet-Content -NoNewline -Path {p} -Value ''\n",
                        p = ps_quote(path)
                    )
                } else {
                    String::new()
                };
                format!(
                    "$ErrorActionPreference = 'Stop'\n{start}Add-Content -NoNewline -Path {} -Value '{chunk}'",
                    ps_quote(path)
                )
            }
        })
        .collect()
}

/// Commands that write `bytes` to `dest` (an already quoted shell expression): inlined, or decoded
/// from where they were uploaded.
fn write_payload(
    os: Os,
    bytes: &[u8],
    staged: Option<&Staged>,
    dest: &str,
    what: &str,
) -> Result<String, String> {
    match (os, staged) {
        (_, None) if bytes.len() > INLINE_LIMIT => Err(format!(
            "{what} is {} KiB: content over {} KiB must be uploaded before its step",
            bytes.len() / 1024,
            INLINE_LIMIT / 1024
        )),
        (Os::Linux, None) => Ok(format!("echo {} | base64 -d > {dest}", base64(bytes))),
        (Os::Linux, Some(s)) => {
            let p = sh_quote(&s.path);
            let rm = if s.consume {
                format!("\nrm -f {p}")
            } else {
                String::new()
            };
            Ok(format!("base64 -d {p} > {dest}{rm}"))
        }
        (Os::Windows, None) => Ok(format!(
            "[IO.File]::WriteAllBytes({dest}, [Convert]::FromBase64String('{}'))",
            base64(bytes)
        )),
        (Os::Windows, Some(s)) => {
            let p = ps_quote(&s.path);
            let rm = if s.consume {
                format!("\nRemove-Item {p}")
            } else {
                String::new()
            };
            Ok(format!(
                "[IO.File]::WriteAllBytes({dest}, [Convert]::FromBase64String((Get-Content -Raw {p}))){rm}"
            ))
        }
    }
}

/// The payload of a `script` or `file` step: its path as written, and its loaded bytes.
pub fn payload<'a>(
    step: &'a Step,
    files: &'a BTreeMap<String, Vec<u8>>,
) -> Option<(&'a str, &'a [u8])> {
    let path = match step {
        Step::Script(s) => &s.path.value,
        Step::File(f) => &f.src.value,
        _ => return None,
    };
    files.get(path).map(|b| (path.as_str(), b.as_slice()))
}

/// `update-os` on Windows, through PSWindowsUpdate. AppStream's Windows base images ship with the
/// Windows Update service disabled (seed 002; "Keep your AppStream 2.0 image up to date"): the step
/// turns it on for the update and off again after, as the image expects.
fn windows_update(target: recipe_model::Target) -> String {
    let update = "Install-Module PSWindowsUpdate -Force -Scope AllUsers\nGet-WindowsUpdate -Install -AcceptAll -IgnoreReboot -NotCategory 'Upgrades'";
    match target {
        recipe_targets::APPSTREAM => format!(
            "Set-Service -Name wuauserv -StartupType Manual\nStart-Service -Name wuauserv\n{update}\nStop-Service -Name wuauserv -Force\nSet-Service -Name wuauserv -StartupType Disabled"
        ),
        _ => update.to_string(),
    }
}

/// A `download` on Windows: `Read-S3Object` (AWS Tools for PowerShell, on AWS's Windows AMIs,
/// with the builder's credentials) for `s3://` URLs, which `Invoke-WebRequest` cannot fetch; else
/// `Invoke-WebRequest`. The file's SHA-256 is checked either way.
fn windows_download(url: &str, dest: &str, sha256: &str) -> Result<String, String> {
    let d = ps_quote(dest);
    let fetch = match url.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, key) = rest
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .ok_or_else(|| format!("{url} names no object: write s3://BUCKET/KEY"))?;
            format!(
                "Read-S3Object -BucketName {} -Key {} -File {d} | Out-Null",
                ps_quote(bucket),
                ps_quote(key)
            )
        }
        None => format!(
            "Invoke-WebRequest -UseBasicParsing -Uri {} -OutFile {d}",
            ps_quote(url)
        ),
    };
    Ok(format!(
        "New-Item -ItemType Directory -Force -Path (Split-Path {d}) | Out-Null\n{fetch}\nif ((Get-FileHash {d} -Algorithm SHA256).Hash -ne '{}') {{ throw {} }}",
        sha256.to_uppercase(),
        ps_quote(&format!("checksum mismatch for {dest}"))
    ))
}

/// The script for one step (`None` for steps the engine handles itself: reboot, sysprep, include).
/// `staged` holds the payloads uploaded beforehand, by path as written in the step.
pub fn step_script(
    step: &Step,
    r: &LoadedRecipe,
    files: &BTreeMap<String, Vec<u8>>,
    staged: &BTreeMap<String, Staged>,
    values: &BuildValues,
) -> Result<Option<String>, String> {
    let os = r.recipe.os.value;
    let header = match os {
        Os::Linux => "set -euo pipefail\n".to_string(),
        Os::Windows => "$ErrorActionPreference = 'Stop'\n".to_string(),
    };
    let body = match step {
        Step::Shell(s) => format!("{}{}", env_lines(&s.env, os), s.run.value),
        Step::PowerShell(s) => format!("{}{}", env_lines(&s.env, os), s.run.value),
        Step::Script(s) => script_body(s, os, files, staged)?,
        Step::File(f) => file_body(f, os, files, staged)?,
        Step::Packages(p) => packages_body(p, os),
        Step::UpdateOs(u) => update_body(u, os, r.recipe.target.value),
        Step::Download(d) => download_body(d, os)?,
        Step::App(a) => app_script(a, os),
        // A gate is not a script: the session stops the apply at it (`Session::gate`); only a
        // launch-stage gate gets here, and the loader refuses those.
        Step::Manual(m) => {
            return Err(format!(
                "a manual gate cannot run at first boot ({})",
                m.instructions.value
            ));
        }
        Step::Reboot(_) | Step::Sysprep(_) | Step::Include(_) => return Ok(None),
    };
    let (lookups, body) = secrets(&body, r, os);
    Ok(Some(format!(
        "{header}{}",
        values.apply(&format!("{lookups}{body}"))
    )))
}

/// A `script` step: the file written to a temporary path, run with its arguments, removed.
fn script_body(
    s: &recipe_model::Script,
    os: Os,
    files: &BTreeMap<String, Vec<u8>>,
    staged: &BTreeMap<String, Staged>,
) -> Result<String, String> {
    let bytes = files
        .get(&s.path.value)
        .ok_or_else(|| format!("script {} was not loaded", s.path.value))?;
    let what = format!("script {}", s.path.value);
    let staged = staged.get(&s.path.value);
    let args: Vec<String> = s
        .args
        .iter()
        .map(|a| {
            if os == Os::Linux {
                sh_quote_with_secrets(a)
            } else {
                ps_quote_with_secrets(a)
            }
        })
        .collect();
    Ok(match os {
        Os::Linux => format!(
            "{}f=$(mktemp)\n{}\nchmod +x \"$f\"\n\"$f\" {}\nrm -f \"$f\"",
            env_lines(&s.env, os),
            write_payload(os, bytes, staged, "\"$f\"", &what)?,
            args.join(" ")
        ),
        Os::Windows => format!(
            "{}$f = Join-Path $env:TEMP 'recipe-step.ps1'\n{}\n& $f {}\nRemove-Item $f",
            env_lines(&s.env, os),
            write_payload(os, bytes, staged, "$f", &what)?,
            args.join(" ")
        ),
    })
}

/// A `file` step: the payload written to its destination, with its mode and owner.
fn file_body(
    f: &recipe_model::File,
    os: Os,
    files: &BTreeMap<String, Vec<u8>>,
    staged: &BTreeMap<String, Staged>,
) -> Result<String, String> {
    let bytes = files
        .get(&f.src.value)
        .ok_or_else(|| format!("file {} was not loaded", f.src.value))?;
    Ok(match os {
        Os::Linux => {
            let d = sh_quote(&f.dest);
            let write = write_payload(
                os,
                bytes,
                staged.get(&f.src.value),
                &d,
                &format!("file {}", f.src.value),
            )?;
            let mut s = format!("install -d \"$(dirname {d})\"\n{write}");
            if let Some(m) = &f.mode {
                s.push_str(&format!("\nchmod {} {}", m.value, sh_quote(&f.dest)));
            }
            if let Some(o) = &f.owner {
                s.push_str(&format!("\nchown {} {}", sh_quote(o), sh_quote(&f.dest)));
            }
            s
        }
        Os::Windows => format!(
            "New-Item -ItemType Directory -Force -Path (Split-Path {d}) | Out-Null\n{}",
            write_payload(
                os,
                bytes,
                staged.get(&f.src.value),
                &ps_quote(&f.dest),
                &format!("file {}", f.src.value)
            )?,
            d = ps_quote(&f.dest)
        ),
    })
}

/// A `packages` step with the package manager asked for (Chocolatey on Windows unless winget).
fn packages_body(p: &recipe_model::Packages, os: Os) -> String {
    let install: Vec<&str> = p.install.iter().map(|n| n.value.as_str()).collect();
    let remove: Vec<&str> = p.remove.iter().map(|n| n.value.as_str()).collect();
    let manager = p.manager.as_ref().map_or(PackageManager::Auto, |m| m.value);
    match (os, manager) {
        (Os::Windows, PackageManager::Winget) => install
            .iter()
            .map(|n| format!("winget install --silent --accept-package-agreements {n}\n"))
            .collect(),
        (Os::Windows, _) => {
            let mut s = String::new();
            if !install.is_empty() {
                s.push_str(&format!("choco install -y {}\n", install.join(" ")));
            }
            if !remove.is_empty() {
                s.push_str(&format!("choco uninstall -y {}\n", remove.join(" ")));
            }
            s
        }
        (Os::Linux, m) => {
            let pm = match m {
                PackageManager::Dnf => "dnf".to_string(),
                PackageManager::Yum => "yum".to_string(),
                PackageManager::Apt => "apt-get".to_string(),
                PackageManager::Zypper => "zypper".to_string(),
                _ => {
                    "$(command -v dnf || command -v yum || command -v apt-get || command -v zypper)"
                        .to_string()
                }
            };
            let mut s = format!("pm={pm}\n");
            // apt has no package lists on a fresh image (minbase, cloud images with
            // cleaned lists), and asks questions without a non-interactive frontend.
            s.push_str("if [ \"${pm##*/}\" = apt-get ]; then export DEBIAN_FRONTEND=noninteractive; \"$pm\" update -q; fi\n");
            if !install.is_empty() {
                s.push_str(&format!("\"$pm\" install -y {}\n", install.join(" ")));
            }
            if !remove.is_empty() {
                s.push_str(&format!("\"$pm\" remove -y {}\n", remove.join(" ")));
            }
            s
        }
    }
}

/// An `update-os` step.
fn update_body(u: &recipe_model::UpdateOs, os: Os, target: recipe_model::Target) -> String {
    match os {
        Os::Linux => {
            let exclude: String = u
                .exclude
                .iter()
                .map(|e| format!(" --exclude={}", sh_quote(e)))
                .collect();
            let security = if u.security_only { " --security" } else { "" };
            linux_update(&format!("{security}{exclude}"))
        }
        Os::Windows => windows_update(target),
    }
}

/// A `download` step, checked against its SHA-256.
fn download_body(d: &recipe_model::Download, os: Os) -> Result<String, String> {
    Ok(match os {
        Os::Linux if d.url.starts_with("s3://") => {
            format!(
                "aws s3 cp {} {}\nprintf '%s  %s\\n' {} {} | sha256sum -c -",
                sh_quote(&d.url),
                sh_quote(&d.dest),
                d.sha256.value,
                sh_quote(&d.dest)
            )
        }
        Os::Linux => {
            format!(
                "install -d \"$(dirname {dest})\"\ncurl -fsSL --retry 3 -o {dest} {}\nprintf '%s  %s\\n' {} {dest} | sha256sum -c -",
                sh_quote(&d.url),
                d.sha256.value,
                dest = sh_quote(&d.dest)
            )
        }
        Os::Windows => windows_download(&d.url, &d.dest, &d.sha256)?,
    })
}

/// A reboot through the agent, as "Handling reboots when running commands" asks
/// (https://docs.aws.amazon.com/systems-manager/latest/userguide/send-commands-reboot.html): exit
/// 3010 (Windows) or 194 (Linux) makes the agent reboot the node and then run the script again.
/// The marker, named for this reboot (`token`), makes that second run end the command with success.
pub fn reboot_script(os: Os, token: &str) -> String {
    let token: String = token
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match os {
        Os::Linux => {
            let m = sh_quote(&format!("/var/lib/recipe/reboot-{token}"));
            format!(
                "if [ -e {m} ]; then rm -f {m}; exit 0; fi\ninstall -d /var/lib/recipe\n: > {m}\nexit 194"
            )
        }
        Os::Windows => {
            let m = ps_quote(&format!("C:\\ProgramData\\recipe\\reboot-{token}"));
            format!(
                "if (Test-Path {m}) {{ Remove-Item {m}; exit 0 }}\nNew-Item -ItemType File -Force -Path {m} | Out-Null\nexit 3010"
            )
        }
    }
}

/// The Windows launch agents that can sysprep an EC2 builder, newest first, as
/// (the file that shows it is installed, what runs sysprep with shutdown):
/// - EC2Launch v2, on Windows Server 2022 and later AMIs
///   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/sysprep-using-ec2launchv2.html);
/// - EC2Launch v1, on Windows Server 2016 and 2019 AMIs
///   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2launch-sysprep.html);
/// - EC2Config, on Windows Server 2012 R2 and earlier
///   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/sysprep-using-ec2config.html).
pub const SYSPREP_AGENTS: [(&str, &str); 3] = [
    (
        "C:\\Program Files\\Amazon\\EC2Launch\\EC2Launch.exe",
        "& 'C:\\Program Files\\Amazon\\EC2Launch\\EC2Launch.exe' sysprep --shutdown=true",
    ),
    (
        "C:\\ProgramData\\Amazon\\EC2-Windows\\Launch\\Scripts\\SysprepInstance.ps1",
        "& 'C:\\ProgramData\\Amazon\\EC2-Windows\\Launch\\Scripts\\InitializeInstance.ps1' -Schedule\n& 'C:\\ProgramData\\Amazon\\EC2-Windows\\Launch\\Scripts\\SysprepInstance.ps1'",
    ),
    (
        "C:\\Program Files\\Amazon\\Ec2ConfigService\\ec2config.exe",
        "& 'C:\\Program Files\\Amazon\\Ec2ConfigService\\ec2config.exe' -sysprep",
    ),
];

/// Sysprep with shutdown by the launch agent the builder has (found on the builder, so a custom
/// base made from any of AWS's Windows AMIs gets the right one). The command does not report
/// Success, since it shuts its own machine down: the caller waits for the instance to stop.
pub fn sysprep_script() -> String {
    let mut s = String::from("$ErrorActionPreference = 'Stop'\n");
    for (i, (file, run)) in SYSPREP_AGENTS.iter().enumerate() {
        let keyword = if i == 0 { "if" } else { " elseif" };
        s.push_str(&format!(
            "{keyword} (Test-Path {}) {{\n{run}\n}}",
            ps_quote(file)
        ));
    }
    s.push_str(" else {\n throw 'neither EC2Launch v2, EC2Launch v1 nor EC2Config is installed, so nothing can sysprep this builder: use an AWS Windows AMI as the base, or install EC2Launch v2 in a step'\n}");
    s
}

/// What runs the launch-stage steps on machines made from the image: AppStream session scripts
/// (system context, at session start) on AppStream, the first-boot runner elsewhere
/// ([`crate::first_boot`]).
pub fn launch_installer(scripts: &[String], os: Os, target: recipe_model::Target) -> String {
    match target {
        recipe_targets::APPSTREAM => session_start_installer(scripts, os),
        _ => crate::first_boot::installer(scripts, os, target),
    }
}

/// `update-os` on Linux: the upgrade, then a check that nothing it covers is still pending (seed
/// 000, step 2: "install all operating system updates"; `dnf`/`yum check-update` exit 100 while
/// updates are available, `apt-get -s upgrade` lists them as `Inst`). Pending updates fail the step.
fn linux_update(options: &str) -> String {
    let fail =
        "{ echo \"update-os: updates are still pending after the upgrade ($1)\" >&2; exit 1; }";
    format!(
        "pending() {fail}\n\
         if command -v dnf >/dev/null; then\n\
         \x20 dnf -y upgrade{options}\n\
         \x20 rc=0; dnf -q check-update{options} >/dev/null || rc=$?\n\
         \x20 [ \"$rc\" -eq 0 ] || pending \"dnf check-update exit $rc\"\n\
         elif command -v yum >/dev/null; then\n\
         \x20 yum -y update{options}\n\
         \x20 rc=0; yum -q check-update{options} >/dev/null || rc=$?\n\
         \x20 [ \"$rc\" -eq 0 ] || pending \"yum check-update exit $rc\"\n\
         else\n\
         \x20 apt-get update && DEBIAN_FRONTEND=noninteractive apt-get -y upgrade\n\
         \x20 left=$(apt-get -s upgrade | grep -c '^Inst ' || true)\n\
         \x20 [ \"$left\" -eq 0 ] || pending \"$left package(s) from apt-get -s upgrade\"\n\
         fi"
    )
}

/// Where the version file is: `/etc/recipe-image.json`, or `C:\ProgramData\recipe\image.json`.
pub fn version_file_path(os: Os) -> &'static str {
    match os {
        Os::Linux => "/etc/recipe-image.json",
        Os::Windows => "C:\\ProgramData\\recipe\\image.json",
    }
}

/// The version file's JSON: recipe, version, build id, fingerprint, base image, build time,
/// target and strategy (the same values the image's `recipe:*` tags carry).
pub fn version_record(
    r: &LoadedRecipe,
    values: &BuildValues,
    fingerprint: &str,
    base: Option<&str>,
) -> String {
    let t = &values.timestamp;
    let built_at = if t.len() == 14 {
        format!(
            "{}-{}-{}T{}:{}:{}Z",
            &t[..4],
            &t[4..6],
            &t[6..8],
            &t[8..10],
            &t[10..12],
            &t[12..]
        )
    } else {
        t.clone()
    };
    let record = serde_json::json!({
        "recipe": r.recipe.name.value,
        "version": r.recipe.version.value,
        "build_id": values.build_id,
        "fingerprint": fingerprint,
        "base_image": base,
        "built_at": built_at,
        "target": r.recipe.target.value.as_str(),
        "strategy": r.recipe.strategy.as_str(),
    });
    serde_json::to_string_pretty(&record).unwrap_or_default() + "\n"
}

/// The command that writes `record` as the version file, whole or not at all (a temporary file
/// moved into place).
pub fn version_file_script(os: Os, record: &str) -> String {
    let path = version_file_path(os);
    let data = base64(record.as_bytes());
    match os {
        Os::Linux => format!(
            "set -euo pipefail\necho {data} | base64 -d > {path}.tmp\nchmod 0644 {path}.tmp\nmv -f {path}.tmp {path}"
        ),
        Os::Windows => format!(
            "$ErrorActionPreference = 'Stop'\nNew-Item -ItemType Directory -Force -Path 'C:\\ProgramData\\recipe' | Out-Null\n[IO.File]::WriteAllBytes('{path}.tmp', [Convert]::FromBase64String('{data}'))\nMove-Item -Force -Path '{path}.tmp' -Destination '{path}'"
        ),
    }
}

/// A Linux script as SSM runs it: AWS-RunShellScript hands `_script.sh` to `sh`, which is dash on
/// Debian and Ubuntu, and the scripts use bash (`set -o pipefail`, arrays). The shebang serves an
/// agent that executes the file; the guard re-runs it in bash when `sh` reads it.
pub fn in_bash(script: &str) -> String {
    format!("#!/bin/bash\n[ -n \"${{BASH_VERSION:-}}\" ] || exec /bin/bash \"$0\" \"$@\"\n{script}")
}

/// A cleanup preset's script: its commands in order, each allowed to fail (a clean-down does not
/// stop on a path that is not there).
pub fn cleanup_script(preset: recipe_model::CleanupPreset, os: Os) -> String {
    let body: Vec<&str> = preset.items().iter().map(|i| i.command).collect();
    let header = match os {
        Os::Windows => "$ErrorActionPreference = 'Continue'\n",
        Os::Linux => "set -uo pipefail\n",
    };
    format!("{header}{}", body.join("\n"))
}

/// The step's files, keyed by the path as written in the step; matched to the loaded file by its
/// resolved suffix.
pub fn files_of(r: &recipe_loader::LoadedRecipe) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for s in r.steps.iter().chain(&r.tests) {
        let path = match &s.step.value {
            recipe_model::Step::Script(x) => &x.path.value,
            recipe_model::Step::File(x) => &x.src.value,
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

#[cfg(test)]
mod tests {
    use super::appstream::session_config;
    use super::*;

    #[test]
    fn secret_references_stay_outside_the_quotes_of_a_value() {
        assert_eq!(sh_quote_with_secrets("plain 'q'"), r"'plain '\''q'\'''");
        assert_eq!(sh_quote_with_secrets("${secret.t}"), r#""${secret.t}""#);
        assert_eq!(
            sh_quote_with_secrets("Bearer ${secret.a}:${secret.b}!"),
            r#"'Bearer '"${secret.a}"':'"${secret.b}"'!'"#
        );
        assert_eq!(sh_quote_with_secrets("${secret.open"), "'${secret.open'");
        assert_eq!(sh_quote_with_secrets(""), "''");
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    /// The quoted chunks of a set of upload commands, joined.
    fn uploaded(scripts: &[String]) -> String {
        scripts
            .iter()
            .map(|s| {
                let (_, rest) = s.rsplit_once("printf '%s' '").unwrap();
                rest.split_once('\'').unwrap().0.to_string()
            })
            .collect()
    }

    #[test]
    fn large_payloads_upload_in_chunks_that_start_the_file_afresh() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let path = stage_path(Os::Linux, "step-web-3");
        let scripts = upload_scripts(Os::Linux, &path, &bytes);
        assert_eq!(scripts.len(), base64(&bytes).len().div_ceil(CHUNK));
        assert!(scripts.len() > 1);
        assert_eq!(uploaded(&scripts), base64(&bytes));
        assert!(scripts[0].contains(": > '/var/lib/recipe/stage/step-web-3.b64'"));
        assert!(scripts[1..].iter().all(|s| !s.contains(": >")));
        assert!(scripts.iter().all(|s| s.len() < INLINE_LIMIT * 2));
        let win = upload_scripts(Os::Windows, &stage_path(Os::Windows, "x"), &bytes);
        assert!(
            win[0].contains("Set-Content -NoNewline -Path 'C:\\ProgramData\\recipe\\stage\\x.b64'")
        );
        assert!(win[1].starts_with("$ErrorActionPreference = 'Stop'\nAdd-Content"));
    }

    #[test]
    fn payloads_are_inlined_decoded_from_the_upload_or_refused() {
        let small = b"echo hi\n";
        let big = vec![b'#'; INLINE_LIMIT + 1];
        assert_eq!(
            write_payload(Os::Linux, small, None, "\"$f\"", "script a.sh").unwrap(),
            format!("echo {} | base64 -d > \"$f\"", base64(small))
        );
        let err = write_payload(Os::Linux, &big, None, "\"$f\"", "script big.sh").unwrap_err();
        assert!(err.contains("script big.sh is 48 KiB"), "{err}");
        let staged = Staged {
            path: "/var/lib/recipe/stage/s.b64".into(),
            consume: true,
        };
        assert_eq!(
            write_payload(Os::Linux, &big, Some(&staged), "/etc/x", "file x").unwrap(),
            "base64 -d '/var/lib/recipe/stage/s.b64' > /etc/x\nrm -f '/var/lib/recipe/stage/s.b64'"
        );
        let kept = Staged {
            consume: false,
            ..staged
        };
        assert!(
            !write_payload(Os::Linux, &big, Some(&kept), "/etc/x", "file x")
                .unwrap()
                .contains("rm -f")
        );
    }

    #[test]
    fn app_steps_call_the_image_assistant_with_quoted_arguments() {
        let app = recipe_model::App {
            id: recipe_model::Node::synthetic("qgis".to_string()),
            path: recipe_model::Node::synthetic(
                "C:\\Program Files\\QGIS\\bin\\qgis.exe".to_string(),
            ),
            display_name: Some(recipe_model::Node::synthetic("QGIS 3.34 LTR's".to_string())),
            launch_parameters: None,
            working_directory: None,
            icon_path: None,
            name: None,
            stage: None,
            timeout: None,
            retries: None,
            os: None,
        };
        let win = app_script(&app, Os::Windows);
        assert!(win.starts_with("& 'C:\\Program Files\\Amazon\\Photon\\ConsoleImageBuilder\\image-assistant.exe' add-application --name 'qgis' --absolute-app-path 'C:\\Program Files\\QGIS\\bin\\qgis.exe' --display-name 'QGIS 3.34 LTR''s'"), "{win}");
        assert!(win.contains("if ($LASTEXITCODE -ne 0)"));
        let linux = app_script(&app, Os::Linux);
        assert!(
            linux.starts_with("AppStreamImageAssistant add-application --name 'qgis'"),
            "{linux}"
        );
        assert!(
            linux.contains("--display-name 'QGIS 3.34 LTR'\\''s'"),
            "{linux}"
        );
    }

    #[test]
    fn appstream_launch_steps_become_the_system_session_start_script() {
        let scripts = vec!["mount -t efs fs-1:/ /opt/tools".to_string()];
        let linux = launch_installer(&scripts, Os::Linux, recipe_targets::APPSTREAM);
        let exe = "/opt/appstream/SessionScripts/recipe-session-start.sh";
        let config = session_config(exe, "");
        assert!(
            linux.ends_with(&format!(
                "echo {} | base64 -d > /opt/appstream/SessionScripts/config.json",
                base64(config.as_bytes())
            )),
            "{linux}"
        );
        let script = "#!/bin/bash\n# Installed by recipe: the launch-stage steps, at each session start.\nmount -t efs fs-1:/ /opt/tools\n";
        assert!(linux.contains(&format!(
            "echo {} | base64 -d > {exe}",
            base64(script.as_bytes())
        )));
        let v: serde_json::Value = serde_json::from_str(&config).unwrap();
        assert_eq!(v["SessionStart"]["executables"][0]["context"], "system");
        assert_eq!(v["SessionStart"]["executables"][0]["filename"], exe);
        assert_eq!(v["SessionStart"]["waitingTime"], 60);
        let win = launch_installer(&scripts, Os::Windows, recipe_targets::APPSTREAM);
        assert!(
            win.contains("C:\\AppStream\\SessionScripts\\config.json"),
            "{win}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&session_config("C:\\a \"b\"", "-File x")).unwrap();
        assert_eq!(
            v["SessionStart"]["executables"][0]["filename"],
            "C:\\a \"b\""
        );
        let ec2 = launch_installer(&scripts, Os::Linux, recipe_targets::EC2_AMI);
        assert!(ec2.contains("/var/lib/cloud/scripts/per-instance"));
    }
}
