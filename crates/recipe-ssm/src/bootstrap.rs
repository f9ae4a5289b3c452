//! The recipe SSM bootstrap: what a base image carries so that every builder made from it registers
//! its SSM agent with no person (docs/workspaces.md, docs/appstream.md). At boot it reads the id and
//! code of the activation the provider made for it from the SecureString parameter
//! [`crate::hybrid::parameter_name`] of the name the machine knows itself by, and registers.

use recipe_model::Os;

/// Which builder the bootstrap runs on: it decides the machine's name and its credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builder {
    /// A WorkSpace: named by its computer name; credentials from a profile the preparation sets up
    /// (WorkSpaces gives a WorkSpace no IAM role).
    Workspace,
    /// An AppStream image builder: named by `AppStream_Resource_Name`; credentials from its IAM
    /// role, the `appstream_machine_role` profile AppStream creates on it.
    ImageBuilder,
}

/// The profile the WorkSpaces bootstrap reads with unless told otherwise.
pub const WORKSPACES_PROFILE: &str = "recipe-bootstrap";

/// The profile AppStream creates on a builder that has an IAM role.
pub const APPSTREAM_PROFILE: &str = "appstream_machine_role";

/// The installer to run once on the machine whose image becomes the base, for `region`, reading
/// with `profile` (the builder's default when `None`).
pub fn installer(builder: Builder, os: Os, region: &str, profile: Option<&str>) -> String {
    let profile = profile.unwrap_or(match builder {
        Builder::Workspace => WORKSPACES_PROFILE,
        Builder::ImageBuilder => APPSTREAM_PROFILE,
    });
    let (template, name) = match (os, builder) {
        (Os::Linux, Builder::Workspace) => (
            include_str!("bootstrap/linux.sh"),
            "$(hostname -s | tr '[:lower:]' '[:upper:]')",
        ),
        (Os::Linux, Builder::ImageBuilder) => (
            include_str!("bootstrap/linux.sh"),
            "\"$AppStream_Resource_Name\"",
        ),
        (Os::Windows, Builder::Workspace) => {
            (include_str!("bootstrap/windows.ps1"), "$env:COMPUTERNAME")
        }
        (Os::Windows, Builder::ImageBuilder) => (
            include_str!("bootstrap/windows.ps1"),
            "[Environment]::GetEnvironmentVariable('AppStream_Resource_Name', 'Machine')",
        ),
    };
    template
        .replace("@REGION@", region)
        .replace("@PROFILE@", profile)
        .replace("@NAME@", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installer_names_the_machine_its_region_and_profile() {
        let ws = installer(Builder::Workspace, Os::Linux, "eu-west-2", None);
        assert!(ws.starts_with("#!/bin/bash\n# recipe-ssm-bootstrap:install"));
        assert!(ws.contains("region='eu-west-2'") && ws.contains("profile='recipe-bootstrap'"));
        assert!(ws.contains("name=$(hostname -s"));
        let ab = installer(Builder::ImageBuilder, Os::Windows, "us-east-1", None);
        assert!(ab.contains("$profileName = 'appstream_machine_role'"));
        assert!(ab.contains("GetEnvironmentVariable('AppStream_Resource_Name'"));
        for placeholder in ["@REGION@", "@PROFILE@", "@NAME@"] {
            assert!(!ab.contains(placeholder), "{placeholder} is filled: {ab}");
        }
        let own = installer(Builder::Workspace, Os::Windows, "eu-west-1", Some("corp"));
        assert!(own.contains("$profileName = 'corp'") && own.contains("$env:COMPUTERNAME"));
    }
}
