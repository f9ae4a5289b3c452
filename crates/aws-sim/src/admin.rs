//! The admin API under `/_sim/`: health, the request log, faults, durations, the clock, SSM scripts.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::Durations;
use crate::faults::{Faults, Rng};
use crate::server::Shared;
use crate::ssm::CommandScript;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

fn bad(msg: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": msg }))
}

/// Serve one admin request.
pub(crate) fn handle(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Response {
    match (method.as_str(), path) {
        ("GET", "/_sim/health") => json_response(StatusCode::OK, &json!({ "ok": true })),
        ("GET", "/_sim/requests") => json_response(
            StatusCode::OK,
            &serde_json::to_value(&*lock(&shared.log)).unwrap_or_default(),
        ),
        ("GET", "/_sim/world") => json_response(
            StatusCode::OK,
            &serde_json::to_value(&*lock(&shared.world)).unwrap_or_default(),
        ),
        ("POST", "/_sim/reset") => {
            shared.reset();
            json_response(StatusCode::OK, &json!({ "reset": true }))
        }
        ("PUT", "/_sim/faults") => match serde_json::from_slice::<Faults>(body) {
            Ok(f) => {
                let seed = f.seed;
                *lock(&shared.faults) = (f, Rng::new(seed));
                json_response(StatusCode::OK, &json!({ "faults": "set" }))
            }
            Err(e) => bad(format!("faults: {e}")),
        },
        ("PUT", "/_sim/durations") => match serde_json::from_slice::<Durations>(body) {
            Ok(d) => {
                *lock(&shared.durations) = d;
                json_response(StatusCode::OK, &json!({ "durations": "set" }))
            }
            Err(e) => bad(format!("durations: {e}")),
        },
        ("POST", "/_sim/advance") => match serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("ms").and_then(serde_json::Value::as_u64))
        {
            Some(ms) => {
                lock(&shared.world).offset_ms += ms;
                json_response(StatusCode::OK, &json!({ "advanced-ms": ms }))
            }
            None => bad("advance: send {\"ms\": N}".into()),
        },
        ("POST", "/_sim/fail-next") => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            match (v.get("kind").and_then(serde_json::Value::as_str), v.get("count").and_then(serde_json::Value::as_u64)) {
                (Some(kind @ ("ec2-image" | "ec2-copy" | "workspaces-image" | "workspaces-rebuild" | "appstream-fleet")), Some(n)) => {
                    lock(&shared.world).fail_next.insert(kind.to_string(), u32::try_from(n).unwrap_or(u32::MAX));
                    json_response(StatusCode::OK, &json!({ "fail-next": kind, "count": n }))
                }
                _ => bad("fail-next: send {\"kind\": \"ec2-image\" | \"ec2-copy\" | \"workspaces-image\" | \"workspaces-rebuild\" | \"appstream-fleet\", \"count\": N}".into()),
            }
        }
        ("POST", "/_sim/ssm/scripts") => match serde_json::from_slice::<CommandScript>(body) {
            Ok(s) => {
                lock(&shared.world).ssm.scripts.push(s);
                json_response(StatusCode::OK, &json!({ "script": "added" }))
            }
            Err(e) => bad(format!("ssm script: {e}")),
        },
        // AWS publishing WorkSpaces component updates for an image (DescribeWorkspaceImages' Updates).
        ("POST", "/_sim/workspaces/updates") => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let id = v
                .get("image-id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let mut world = lock(&shared.world);
            match world.workspaces.images.get_mut(id) {
                Some(img) => {
                    img.update_available = true;
                    shared.persist(&world);
                    json_response(StatusCode::OK, &json!({ "updates": id }))
                }
                None => bad(format!("updates: no image {id}")),
            }
        }
        // AWS patching one of its public bundles in place (a newer ImageId, LastUpdatedTime).
        ("POST", "/_sim/workspaces/bundle-updates") => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let id = v
                .get("bundle-id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let mut world = lock(&shared.world);
            let now = crate::clock::now_ms(world.offset_ms);
            if crate::workspaces::publish_bundle_update(&mut world.workspaces, id, now) {
                shared.persist(&world);
                json_response(StatusCode::OK, &json!({ "bundle-updates": id }))
            } else {
                bad(format!("bundle-updates: no public bundle {id}"))
            }
        }
        // The person at a WorkSpace running `amazon-ssm-agent -register` (see ssm_hybrid.rs).
        ("POST", "/_sim/ssm/register") => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let field = |k: &str| {
                v.get(k)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            // The machine: a WorkSpace (`workspace-id`) or an AppStream image builder (`image-builder`).
            let machine = match field("workspace-id") {
                ws if ws.is_empty() => field("image-builder"),
                ws => ws,
            };
            match shared.register(&field("activation-id"), &field("activation-code"), &machine) {
                Ok(id) => json_response(StatusCode::OK, &json!({ "instance-id": id })),
                Err(e) => bad(format!("register: {e}")),
            }
        }
        _ => bad(format!(
            "no admin route {} {path}; see docs/aws-sim.md",
            method.as_str()
        )),
    }
}
