//! Injected faults: which call is throttled, fails with a 5xx before it runs, or is lost after it
//! ran (`POST /_sim/faults`), as each protocol says so.

use super::*;

pub(super) fn throttle_error(p: Protocol) -> ApiError {
    match p {
        Protocol::Query => ApiError {
            status: 503,
            code: "RequestLimitExceeded".into(),
            message: "Request limit exceeded.".into(),
        },
        _ => ApiError {
            status: 400,
            code: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        },
    }
}

pub(super) fn server_error(p: Protocol) -> ApiError {
    let code = if p == Protocol::Query {
        "InternalError"
    } else {
        "InternalServerError"
    };
    ApiError {
        status: 500,
        code: code.into(),
        message: "An internal error has occurred (injected by aws-sim)".into(),
    }
}

pub(super) fn is_read(op: &str) -> bool {
    ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|p| op.starts_with(p))
}

/// The fault chosen for one call: an error instead of the call, an error after it took effect, or
/// an answer missing a member.
#[derive(Default)]
pub(super) struct PlannedFault {
    pub(super) before: Option<ApiError>,
    pub(super) after: Option<ApiError>,
    pub(super) drop_member: Option<String>,
}

impl PlannedFault {
    pub(super) fn label(&self) -> Option<String> {
        let taken = self.after.as_ref().map(|e| format!("{} (taken)", e.code));
        let dropped = self.drop_member.as_ref().map(|m| format!("dropped {m}"));
        self.before
            .as_ref()
            .map(|e| e.code.clone())
            .or(taken)
            .or(dropped)
    }
}

/// Scripted faults first, then the random ones.
pub(super) fn plan_fault(shared: &Shared, call: &Call, operation: &str, n: u64) -> PlannedFault {
    let mut f = lock(&shared.faults);
    let (faults, rng) = &mut *f;
    if let Some(s) = faults
        .scripted
        .iter()
        .find(|s| s.operation == operation && s.nth == n)
    {
        let error = ApiError {
            status: s.status,
            code: s.code.clone(),
            message: if s.message.is_empty() {
                format!("scripted fault on call {n} of {operation}")
            } else {
                s.message.clone()
            },
        };
        return match (&s.drop_member, s.taken) {
            (Some(m), _) => PlannedFault {
                drop_member: Some(m.clone()),
                ..Default::default()
            },
            (None, true) => PlannedFault {
                after: Some(error),
                ..Default::default()
            },
            (None, false) => PlannedFault {
                before: Some(error),
                ..Default::default()
            },
        };
    }
    let mut roll = |rate: f64| rate > 0.0 && rng.next_f64() < rate;
    let before = if roll(faults.throttle_rate) {
        Some(throttle_error(call.protocol))
    } else if roll(faults.error_rate) {
        Some(server_error(call.protocol))
    } else {
        None
    };
    let after = (before.is_none() && !is_read(&call.op) && roll(faults.lost_rate))
        .then(|| server_error(call.protocol));
    PlannedFault {
        before,
        after,
        drop_member: None,
    }
}
