//! AppStream's part of rendering: the Image Assistant's command line (`add-application`,
//! `create-image`), `app` steps, and the session scripts that run launch-stage steps when a user's
//! session starts.

use super::*;

/// The Image Assistant CLI on an AppStream image builder
/// (https://docs.aws.amazon.com/appstream2/latest/developerguide/programmatically-create-image.html).
pub fn image_assistant(os: Os) -> &'static str {
    match os {
        Os::Linux => "AppStreamImageAssistant",
        Os::Windows => {
            "& 'C:\\Program Files\\Amazon\\Photon\\ConsoleImageBuilder\\image-assistant.exe'"
        }
    }
}

/// An Image Assistant call with `--flag value…` arguments (each value quoted for the shell; `--tags`
/// takes key and value pairs), failing the script when the assistant's exit code is not 0.
pub fn image_assistant_call(os: Os, operation: &str, args: &[(&str, Vec<&str>)]) -> String {
    let quote = |v: &str| match os {
        Os::Linux => sh_quote(v),
        Os::Windows => ps_quote(v),
    };
    let flags: String = args
        .iter()
        .map(|(k, vs)| {
            let values: Vec<String> = vs.iter().map(|v| quote(v)).collect();
            format!(" --{k} {}", values.join(" "))
        })
        .collect();
    let call = format!("{} {operation}{flags}", image_assistant(os));
    match os {
        Os::Linux => call,
        Os::Windows => format!(
            "{call}\nif ($LASTEXITCODE -ne 0) {{ throw \"image-assistant {operation} failed ($LASTEXITCODE)\" }}"
        ),
    }
}

/// An `app` step: Image Assistant `add-application`, which puts the application in the image's
/// catalog.
pub(super) fn app_script(a: &recipe_model::App, os: Os) -> String {
    let mut args = vec![
        ("name", vec![a.id.value.as_str()]),
        ("absolute-app-path", vec![a.path.value.as_str()]),
    ];
    let optional = [
        ("display-name", &a.display_name),
        ("launch-parameters", &a.launch_parameters),
        ("working-directory", &a.working_directory),
        ("absolute-icon-path", &a.icon_path),
    ];
    for (flag, v) in optional {
        if let Some(v) = v {
            args.push((flag, vec![v.value.as_str()]));
        }
    }
    image_assistant_call(os, "add-application", &args)
}

/// AppStream session scripts: the launch-stage steps as the system-context SessionStart executable,
/// in the session scripts configuration the streaming instance reads
/// (https://docs.aws.amazon.com/appstream2/latest/developerguide/use-session-scripts.html). The
/// steps get the documented maximum of 60 seconds in all.
pub fn session_start_installer(scripts: &[String], os: Os) -> String {
    let body = scripts.join("\n");
    let (dir, script, exe, args) = match os {
        Os::Linux => (
            "/opt/appstream/SessionScripts",
            "/opt/appstream/SessionScripts/recipe-session-start.sh",
            "/opt/appstream/SessionScripts/recipe-session-start.sh",
            String::new(),
        ),
        Os::Windows => (
            "C:\\AppStream\\SessionScripts",
            "C:\\AppStream\\SessionScripts\\recipe-session-start.ps1",
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "-NoProfile -ExecutionPolicy Bypass -File C:\\AppStream\\SessionScripts\\recipe-session-start.ps1".to_string(),
        ),
    };
    let config = session_config(exe, &args);
    match os {
        Os::Linux => format!(
            "set -euo pipefail\ninstall -d {dir}\necho {} | base64 -d > {script}\nchmod 0755 {script}\necho {} | base64 -d > {dir}/config.json",
            base64(format!("#!/bin/bash\n# Installed by recipe: the launch-stage steps, at each session start.\n{body}\n").as_bytes()),
            base64(config.as_bytes())
        ),
        Os::Windows => format!(
            "$ErrorActionPreference = 'Stop'\nNew-Item -ItemType Directory -Force -Path '{dir}' | Out-Null\n[IO.File]::WriteAllBytes('{script}', [Convert]::FromBase64String('{}'))\n[IO.File]::WriteAllBytes('{dir}\\config.json', [Convert]::FromBase64String('{}'))",
            base64(format!("# Installed by recipe: the launch-stage steps, at each session start.\n{body}\n").as_bytes()),
            base64(config.as_bytes())
        ),
    }
}

/// The session scripts configuration with one system-context SessionStart executable.
pub(super) fn session_config(exe: &str, args: &str) -> String {
    let empty = r#"{"context": "user", "filename": "", "arguments": "", "s3LogEnabled": true}"#;
    format!(
        r#"{{"SessionStart": {{"executables": [{{"context": "system", "filename": {}, "arguments": {}, "s3LogEnabled": true}}, {empty}], "waitingTime": 60}}, "SessionTermination": {{"executables": [{empty}], "waitingTime": 60}}}}"#,
        json_string(exe),
        json_string(args)
    )
}

/// `s` as a JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
