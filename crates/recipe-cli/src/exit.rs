//! Exit codes, one per kind of outcome, so that a script or CI job can tell them apart. Documented
//! in docs/cli.md (the table is checked against this enum by a test); scripts and CI rely on them.

use std::process::ExitCode;

/// Why the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success: the input is valid (warnings allowed), or the command did what it was asked.
    Ok = 0,
    /// Invalid input: a recipe, component, referenced file or saved plan has errors (or was edited),
    /// a region AWS does not have, generated files drifted, a lint score below `--min-score`.
    Invalid = 1,
    /// `plan --detailed-exitcode`: the plan has changes.
    Changes = 2,
    /// `apply` stopped at a `manual` gate: a person must act, then the next apply goes on.
    Paused = 3,
    /// The plan cannot be made or applied as it is: the cloud or state could not be read, preflight
    /// found what the builders lack, a saved plan is stale, no provider serves a target, a lock was
    /// not had in time. Nothing was changed.
    Plan = 4,
    /// `apply` ran and did not complete: an action failed (or `try`: a step failed).
    Failed = 5,
    /// `apply` was not confirmed: the answer was not `yes`, or there was no terminal to ask on.
    Declined = 6,
    /// `verify`: a check of an image version's evidence failed (its line says which).
    Unverified = 7,
    /// The command line itself is wrong (unknown flag, missing value).
    Usage = 64,
    /// Output could not be written (a file, or a closed pipe).
    Io = 74,
    /// `apply` was interrupted (Ctrl-C, SIGINT): after cleaning up, or at once on a second one.
    Interrupted = 130,
}

impl Exit {
    /// Every code, for the documentation check.
    pub const ALL: [Exit; 11] = [
        Exit::Ok,
        Exit::Invalid,
        Exit::Changes,
        Exit::Paused,
        Exit::Plan,
        Exit::Failed,
        Exit::Declined,
        Exit::Unverified,
        Exit::Usage,
        Exit::Io,
        Exit::Interrupted,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/cli.md has a row for every code, and no row for a code that does not exist.
    #[test]
    fn the_documented_codes_are_the_codes() {
        let doc = include_str!("../../../docs/cli.md");
        let table = &doc[doc.find("## Exit codes").expect("an exit code section")..];
        let rows: Vec<u8> = table
            .lines()
            .skip_while(|l| !l.starts_with("|---"))
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.split('|').nth(1).unwrap().trim().parse().unwrap())
            .collect();
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(rows, codes);
    }
}
