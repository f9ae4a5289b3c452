//! The checks of each step and test: stage, operating system, what each kind requires, retries,
//! destinations, and nothing after `sysprep`.

use super::*;

/// Whether the scalar at `span` is written quoted in `text` (a span that is not known counts as
/// quoted: a synthetic value has no source to be unquoted in).
pub(super) fn quoted(text: &str, span: Span) -> bool {
    !span.is_known() || text[span.offset.min(text.len())..].starts_with(['"', '\''])
}

/// A display name for a step in messages.
pub(super) fn step_label(s: &ResolvedStep) -> String {
    match s.step.common().and_then(|c| c.name()) {
        Some(n) => format!("`{}` step `{}`", s.step.kind(), n.value),
        None => format!("`{}` step", s.step.kind()),
    }
}

/// The findings about one step, located in its file.
pub(super) struct StepFindings<'s> {
    s: &'s ResolvedStep,
    out: &'s mut Vec<Diagnostic>,
}

impl StepFindings<'_> {
    fn push(&mut self, code: Code, span: Span, msg: String, help: String, label: &str) {
        let d = Diagnostic::new(code, msg).help(help).label(label);
        self.out.push(d.at(&self.s.source, span));
    }
}

pub(super) fn check_steps(cx: &mut Check<'_>, spec: &dyn TargetSpec) {
    let rec = &cx.r.recipe;
    let (os, strategy) = (rec.os.value, rec.strategy.value);
    let mut has_sysprep = false;
    let steps = cx.r.steps.iter().map(|s| (s, false));
    let all = steps.chain(cx.r.tests.iter().map(|s| (s, true)));
    let mut out = Vec::new();
    for (s, is_test) in all {
        let mut f = StepFindings { s, out: &mut out };
        check_step_stage(&mut f, is_test, strategy);
        check_step_os(&mut f, os);
        has_sysprep |= check_step_kind(&mut f, cx, spec, os);
        check_step_retries(&mut f);
        let baked = !is_test && s.stage == Stage::Image;
        if baked && has_sysprep && !matches!(s.step.value, Step::Sysprep(_)) {
            f.push(
                Code::AfterSysprep,
                s.step.span,
                format!("{} comes after `sysprep`", step_label(s)),
                "move `sysprep` to the end: it generalises and shuts the builder down (tests and cleanup run before it)".into(),
                "after sysprep",
            );
        }
    }
    cx.out.extend(out);
}

/// `stage: launch` on a test, or in a `full` recipe.
pub(super) fn check_step_stage(f: &mut StepFindings<'_>, is_test: bool, strategy: Strategy) {
    let s = f.s;
    let Some(st) = s.step.common().and_then(|c| c.stage()) else {
        return;
    };
    if st.value != Stage::Launch {
        return;
    }
    if is_test {
        f.push(
            Code::TestAtLaunch,
            st.span,
            format!("a test cannot run at launch ({})", step_label(s)),
            "remove `stage: launch`: tests run on the builder before capture".into(),
            "tests run on the builder",
        );
    } else if strategy == Strategy::Full {
        f.push(
            Code::LaunchInFull,
            st.span,
            format!("{} is deferred to launch in a `full` recipe", step_label(s)),
            "remove `stage: launch`, or make the recipe `strategy: thin` to defer some steps to first boot".into(),
            "`full` bakes every step",
        );
    }
}

/// A step for the other operating system.
pub(super) fn check_step_os(f: &mut StepFindings<'_>, os: Os) {
    let s = f.s;
    let Some(native) = s.step.native_os().filter(|n| *n != os) else {
        return;
    };
    let help = match (native, &s.step.value) {
        (_, Step::Sysprep(_)) => {
            "remove it: Linux images are generalised by the cleanup preset (`cleanup: linux`)"
        }
        (Os::Linux, _) => {
            "use `powershell` on Windows, or add `os: linux` to skip this step on Windows"
        }
        (Os::Windows, _) => "use `shell` on Linux, or add `os: windows` to skip this step on Linux",
    };
    f.push(
        Code::WrongOs,
        s.step.span,
        format!(
            "{} is for {} but the recipe is `os: {}`",
            step_label(s),
            native.as_str(),
            os.as_str()
        ),
        help.into(),
        "wrong operating system",
    );
}

/// What each kind of step requires; `true` for a `sysprep`.
pub(super) fn check_step_kind(
    f: &mut StepFindings<'_>,
    cx: &Check<'_>,
    spec: &dyn TargetSpec,
    os: Os,
) -> bool {
    let s = f.s;
    let kind = s.step.kind();
    let takes = |t: &dyn TargetSpec| t.steps().iter().any(|k| k.key == kind);
    if cx.set.targets.iter().any(takes) && !takes(spec) {
        let t = cx.target.as_str();
        f.push(
            Code::StepTarget,
            s.step.span,
            format!("`{kind}` steps do not apply to target `{t}`"),
            format!(
                "remove it: it is for {}",
                cx.set.targets.owners(kind, |t| t.steps())
            ),
            "not for this target",
        );
        return false;
    }
    match &s.step.value {
        Step::Sysprep(_) => return true,
        Step::Packages(p) => check_package_manager(f, p),
        Step::File(file) => {
            check_dest(f.out, s, &file.dest, os);
            check_file_mode(f, file.mode.as_ref());
        }
        Step::Download(d) => {
            check_dest(f.out, s, &d.dest, os);
            check_download(f, d);
        }
        Step::Manual(m) => check_manual(f, m),
        _ => {}
    }
    false
}

/// winget is not there for SYSTEM.
pub(super) fn check_package_manager(f: &mut StepFindings<'_>, p: &recipe_model::Packages) {
    let Some(m) = p.manager.as_ref() else { return };
    if m.value != recipe_model::PackageManager::Winget {
        return;
    }
    f.push(
        Code::Winget,
        m.span,
        "winget cannot install packages here: steps run as LocalSystem, which has no winget, and Windows Server does not ship it".into(),
        "use `manager: choco` (Chocolatey runs as LocalSystem), or a `download` of the installer and a `powershell` step that runs it silently (then an `app` step, where the target has an application catalog)".into(),
        "not available to SYSTEM",
    );
}

/// A file mode is a quoted octal string.
pub(super) fn check_file_mode(f: &mut StepFindings<'_>, mode: Option<&Node<String>>) {
    let Some(mode) = mode else { return };
    if !quoted(&f.s.source.text, mode.span) {
        // YAML 1.1 tools read an unquoted 0644 as the number 420; the schema wants a string, so
        // the editor and validate both refuse it.
        f.push(
            Code::InvalidType,
            mode.span,
            format!("file mode {} is a number, not a string", mode.value),
            format!(
                "quote it, `mode: \"{}\"`: an unquoted 0644 is octal to some YAML readers and decimal to others",
                mode.value
            ),
            "unquoted",
        );
    } else if !FILE_MODE.is_match(mode) {
        f.push(
            Code::InvalidValue,
            mode.span,
            format!("file mode `{}` is not an octal mode", mode.value),
            "write three or four octal digits as a quoted string, e.g. \"0644\"".into(),
            "not octal",
        );
    }
}

/// A download has a SHA-256 and an authenticated source.
pub(super) fn check_download(f: &mut StepFindings<'_>, d: &recipe_model::Download) {
    if !SHA256.is_match(&d.sha256) {
        f.push(
            Code::InvalidValue,
            d.sha256.span,
            format!("`{}` is not a SHA-256 checksum", d.sha256.value),
            "write the file's SHA-256 as 64 hexadecimal digits (`sha256sum FILE`)".into(),
            "not 64 hex digits",
        );
    }
    if !(d.url.starts_with("https://") || d.url.starts_with("s3://")) {
        f.push(
            Code::StepPath,
            d.url.span,
            format!("download URL `{}` is not https:// or s3://", d.url.value),
            "download over https:// or from s3:// so the transfer is authenticated".into(),
            "insecure or unknown scheme",
        );
    }
}

/// A `manual` gate runs on the builder, with a timeout.
pub(super) fn check_manual(f: &mut StepFindings<'_>, m: &recipe_model::Manual) {
    let s = f.s;
    if s.stage == Stage::Launch {
        f.push(
            Code::ManualAtLaunch,
            s.step.span,
            format!("{} would run at launch", step_label(s)),
            "add `stage: image` so the gate runs on the builder, or script the task".into(),
            "nobody is there at first boot",
        );
    } else if m.timeout.is_none() {
        f.push(
            Code::ManualNoTimeout,
            s.step.span,
            "a `manual` gate without a timeout waits forever".into(),
            "add `timeout: 2h` (or what the task needs) so an unattended build fails instead of hanging".into(),
            "no timeout",
        );
    }
}

/// At most [`MAX_RETRIES`] retries.
pub(super) fn check_step_retries(f: &mut StepFindings<'_>) {
    let Some(r) = f.s.step.common().and_then(|c| c.retries()) else {
        return;
    };
    if r.value > MAX_RETRIES {
        f.push(
            Code::InvalidValue,
            r.span,
            format!("{} retries is too many", r.value),
            format!(
                "retry at most {MAX_RETRIES} times; a step that fails more often needs fixing, not retrying"
            ),
            "too many retries",
        );
    }
}

pub(super) fn check_dest(out: &mut Vec<Diagnostic>, s: &ResolvedStep, dest: &Node<String>, os: Os) {
    let d = dest.value.as_str();
    let absolute = match os {
        Os::Linux => d.starts_with('/'),
        Os::Windows => {
            let b = d.as_bytes();
            b.len() >= 3
                && b[0].is_ascii_alphabetic()
                && b[1] == b':'
                && (b[2] == b'\\' || b[2] == b'/')
        }
    };
    if !absolute {
        let example = if os == Os::Linux {
            "/opt/app/config.yaml"
        } else {
            r"C:\ProgramData\app\config.yaml"
        };
        out.push(
            Diagnostic::new(
                Code::StepPath,
                format!("destination `{d}` is not an absolute path"),
            )
            .help(format!(
                "write the full path on the builder, e.g. `{example}`"
            ))
            .label("relative path")
            .at(&s.source, dest.span),
        );
    }
}
