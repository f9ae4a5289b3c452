//! `builder.import`: how a Windows AMI recipe's image enters WorkSpaces. The rules are the API
//! reference's (ImportCustomWorkspaceImage, ImportWorkspaceImage), checked before anything is sent.

use std::sync::LazyLock;

use recipe_loader::{Check, Code};
use recipe_model::{Base, Node};

use super::sections::{IMPORT_OF, ImportOsVersion, ImportProtocol, WorkspacesImport};
use regex::Regex;

use super::{BYOL_BASE, IMPORT};
use crate::re;

static INFRA_ARN: LazyLock<Regex> =
    LazyLock::new(|| re(recipe_model::patterns::INFRASTRUCTURE_CONFIGURATION_ARN));

/// `builder.import` belongs to a `workspaces` recipe on a `recipe` base, and its members to one
/// of the two import calls.
pub(super) fn check(cx: &mut Check<'_>) {
    let Some(import) = IMPORT_OF.of(&cx.r.recipe.builder.sections) else {
        return;
    };
    if !matches!(cx.r.recipe.base.value, Base::Recipe(_)) {
        cx.push(
            Code::Target(&IMPORT),
            import.span,
            "`builder.import` applies only to a recipe whose base is an `ec2-ami` recipe",
            "remove it, or set `base: { recipe: <an ec2-ami recipe> }`",
            "nothing is imported",
        );
        return;
    }
    match &import.value.infrastructure_configuration_arn {
        Some(arn) => custom(cx, &import.value, arn),
        None => byol(cx, &import.value),
    }
}

/// ImportCustomWorkspaceImage: the ARN's shape, `os-version` required, no PCOIP on Windows 11
/// ("Windows 11 does not support PCOIP protocol"), no `ingestion-process`.
fn custom(cx: &mut Check<'_>, i: &WorkspacesImport, arn: &Node<String>) {
    if !INFRA_ARN.is_match(&arn.value) {
        cx.push(
            Code::Arn,
            arn.span,
            format!(
                "`{}` is not an EC2 Image Builder infrastructure configuration ARN",
                arn.value
            ),
            "write `arn:aws:imagebuilder:<region>:<account>:infrastructure-configuration/<name>`",
            "malformed ARN",
        );
    }
    if let Some(p) = &i.ingestion_process {
        cx.push(
            Code::Target(&IMPORT),
            p.span,
            "`ingestion-process` is ImportWorkspaceImage's, and `infrastructure-configuration-arn` selects ImportCustomWorkspaceImage",
            "remove `ingestion-process` (set `protocol` and `compute` instead), or remove the ARN",
            "not for this import",
        );
    }
    let Some(os) = &i.os_version else {
        cx.push(
            Code::Target(&IMPORT),
            arn.span,
            "ImportCustomWorkspaceImage needs the AMI's Windows version",
            "add `os-version: Windows_11` (or `Windows_10`) under `builder.import`",
            "os-version missing",
        );
        return;
    };
    let pcoip = i
        .protocol
        .as_ref()
        .filter(|p| p.value == ImportProtocol::Pcoip);
    if let (ImportOsVersion::Windows11, Some(p)) = (os.value, pcoip) {
        cx.push(
            Code::Target(&IMPORT),
            p.span,
            "Windows 11 does not support the PCOIP protocol",
            "use `protocol: DCV`",
            "PCOIP on Windows 11",
        );
    }
}

/// ImportWorkspaceImage: only `ingestion-process`.
fn byol(cx: &mut Check<'_>, i: &WorkspacesImport) {
    let custom_only = [
        ("os-version", i.os_version.as_ref().map(|n| n.span)),
        ("protocol", i.protocol.as_ref().map(|n| n.span)),
        ("compute", i.compute.as_ref().map(|n| n.span)),
    ];
    for (key, span) in custom_only {
        let Some(span) = span else { continue };
        cx.push(
            Code::Target(&IMPORT),
            span,
            format!("`{key}` is ImportCustomWorkspaceImage's, which needs `infrastructure-configuration-arn`"),
            format!("add `infrastructure-configuration-arn`, or remove `{key}` (ImportWorkspaceImage takes `ingestion-process`)"),
            "not for this import",
        );
    }
}

/// WorkSpaces imports only "an already licensed Amazon EC2 image" of Windows 10 or 11 that the
/// account owns (API_ImportWorkspaceImage; "Bring Your Own Windows desktop licenses": VM Import). An
/// AMI recipe built on AWS's Windows Server AMIs (their SSM parameters, or `owners: [amazon]`)
/// carries AWS's licence, and every AMI made from it does: the import would be refused after the
/// AMI was built. The recipe shows it for the parent's own base; a base further up is checked by
/// the plan and by the import itself.
pub(super) fn check_parent_licence(cx: &mut Check<'_>, parent: &recipe_model::Recipe) {
    let licensed = match &parent.base.value {
        Base::SsmParameter(p) => p.value.starts_with("/aws/service/ami-windows-latest/"),
        Base::AmiFilter(f) => f.owners.iter().any(|o| o.value == "amazon"),
        _ => false,
    };
    if licensed {
        cx.push(
            Code::Target(&BYOL_BASE),
            cx.r.recipe.base.span,
            format!(
                "`{}` is built on AWS's license-included Windows, which WorkSpaces does not import",
                parent.name.value
            ),
            "build the AMI recipe on your own Windows 10 or 11 image imported with VM Import (`ami-filter: { filters: { name: \"import-ami-*\" }, owners: [self], most-recent: true }`, docs/workspaces.md#byol), or start from a WorkSpaces bundle (`base: { bundle: … }`)",
            "license-included base",
        );
    }
}
