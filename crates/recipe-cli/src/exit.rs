//! Exit codes. Documented in docs/cli.md; scripts and CI rely on them.

use std::process::ExitCode;

/// Why the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success: the input is valid (warnings allowed), or the command did what it was asked.
    Ok = 0,
    /// Invalid input: a recipe, component or referenced file has errors, or a generated file drifted.
    Invalid = 1,
    /// `plan --detailed-exitcode`: the plan has changes.
    Changes = 2,
    /// `apply` stopped at a `manual` gate: a person must act, then the next apply goes on.
    Paused = 3,
    /// The command line itself is wrong (unknown flag, missing value).
    Usage = 64,
    /// Output could not be written (a file, or a closed pipe).
    Io = 74,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
