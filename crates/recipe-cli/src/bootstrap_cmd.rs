//! `recipe bootstrap`: print the installer of the recipe SSM bootstrap, which a base bundle or base
//! image carries so that every WorkSpaces or AppStream builder made from it registers its SSM agent
//! with no person (docs/workspaces.md, docs/appstream.md).

use std::io::Write;

use clap::ValueEnum;
use recipe_model::Os;
use recipe_ssm::bootstrap::{Builder, installer};

use crate::exit::Exit;

/// The builder the bootstrap will run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// A WorkSpaces builder WorkSpace.
    Workspaces,
    /// An AppStream 2.0 image builder.
    Appstream,
}

/// The operating system of the base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// bash and systemd.
    Linux,
    /// PowerShell and a scheduled task.
    Windows,
}

/// `recipe bootstrap`.
#[derive(clap::Args)]
pub struct BootstrapArgs {
    /// The builder it runs on.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The base's operating system.
    #[arg(long, value_enum)]
    pub os: System,
    /// The region the builds run in (where the provider keeps each activation).
    #[arg(long)]
    pub region: String,
    /// The AWS profile the bootstrap reads with. WorkSpaces: `recipe-bootstrap` (set it up on the
    /// base; docs/workspaces.md). AppStream: `appstream_machine_role`, the builder's IAM role.
    #[arg(long)]
    pub profile: Option<String>,
}

/// Print the installer.
pub fn run(args: &BootstrapArgs) -> Exit {
    let builder = match args.target {
        Target::Workspaces => Builder::Workspace,
        Target::Appstream => Builder::ImageBuilder,
    };
    let os = match args.os {
        System::Linux => Os::Linux,
        System::Windows => Os::Windows,
    };
    if !recipe_model::regions::is_known(&args.region) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "error: `{}` is not an AWS region\n  help: give the region your builds run in, for example eu-west-2",
            args.region
        );
        return Exit::Invalid;
    }
    let script = installer(builder, os, &args.region, args.profile.as_deref());
    let _ = std::io::stdout().lock().write_all(script.as_bytes());
    Exit::Ok
}
