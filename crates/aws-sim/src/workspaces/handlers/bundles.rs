//! WorkSpaces bundles: create, update to a new image, delete, describe (volumes checked per compute
//! type).

use super::*;

/// `{name}.Capacity` (a string of GB; a number is accepted too).
pub(super) fn capacity(b: &Value, name: &str) -> Result<Option<u32>, ApiError> {
    let Some(cap) = b
        .get(name)
        .and_then(|v| v.get("Capacity"))
        .filter(|v| !v.is_null())
    else {
        return Ok(None);
    };
    let parsed = match cap {
        Value::String(s) => s.trim().parse::<u32>().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| invalid(format!("{name}.Capacity must be a whole number of GB.")))
}

/// The root/user groups of the Administration Guide (Modify a WorkSpace,
/// <https://docs.aws.amazon.com/workspaces/latest/adminguide/modify-workspaces.html>): [80, 10],
/// [80, 50], [80, 100] and [175 to 2000, 100 to 2000]; "Graphics and GraphicsPro WorkSpaces can have
/// the root and user volumes both set to 100 GB minimum". The guide names no other rule for the G4dn,
/// G6 and GeneralPurpose types: the G4dn and G6 kinds are taken as GPU bundles, GeneralPurpose as the
/// rest (docs/aws-sim.md lists this as undocumented).
pub(super) fn check_volumes(compute: &str, root: u32, user: u32) -> Result<(), ApiError> {
    let gpu = compute.starts_with("GRAPHICS");
    let ok = if gpu {
        (100..=2000).contains(&root) && (100..=2000).contains(&user)
    } else {
        (root == 80 && matches!(user, 10 | 50 | 100))
            || ((175..=2000).contains(&root) && (100..=2000).contains(&user))
    };
    match (ok, gpu) {
        (true, _) => Ok(()),
        (false, true) => Err(invalid(format!(
            "Invalid volume sizes for {compute}: root {root} GB with user {user} GB. Graphics bundles take a root volume of 100 to 2000 GB with a user volume of 100 to 2000 GB."
        ))),
        (false, false) => Err(invalid(format!(
            "Invalid volume sizes: root {root} GB with user {user} GB. Use a root volume of 80 GB with a user volume of 10, 50 or 100 GB, or a root volume of 175 to 2000 GB with a user volume of 100 to 2000 GB."
        ))),
    }
}

pub(super) fn owned_bundle_mut<'a>(
    w: &'a mut World,
    c: &Call,
    id: &str,
) -> Result<&'a mut Bundle, ApiError> {
    if public_bundle(&c.region, id).is_some() {
        return Err(ApiError::client(
            DENIED,
            format!("The bundle {id} belongs to AMAZON and cannot be changed."),
        ));
    }
    w.workspaces
        .bundles
        .get_mut(id)
        .filter(|b| b.region == c.region && b.owner == c.account)
        .ok_or_else(|| ApiError::client(NOT_FOUND, format!("The bundle {id} could not be found.")))
}

pub(super) fn create_workspace_bundle(
    w: &mut World,
    c: &Call,
    now: u64,
) -> Result<Value, ApiError> {
    let b = &c.body;
    let name = required(b, "BundleName")?;
    if !valid_name(name) {
        return Err(invalid(format!(
            "The bundle name '{name}' is not valid: use 1 to 64 letters, digits and _ . / ( ) -."
        )));
    }
    let description = required(b, "BundleDescription")?;
    // API_CreateWorkspaceBundle: 1-255 characters of ^[a-zA-Z0-9_./() -]+$.
    check_length("BundleDescription", description, 255)?;
    check_image_description(
        "BundleDescription",
        &description.chars().take(256).collect::<String>(),
    )?;
    let image_id = required(b, "ImageId")?;
    let compute = b
        .get("ComputeType")
        .and_then(|v| opt_str(v, "Name"))
        .ok_or_else(|| invalid("The parameter ComputeType.Name is required."))?;
    if !COMPUTE_TYPES.contains(&compute) {
        return Err(invalid(format!("ComputeType {compute} is not valid.")));
    }
    let user_gib = capacity(b, "UserStorage")?
        .ok_or_else(|| invalid("The parameter UserStorage.Capacity is required."))?;
    let root_gib = capacity(b, "RootStorage")?.unwrap_or(if compute.starts_with("GRAPHICS") {
        100
    } else {
        80
    });
    check_volumes(compute, root_gib, user_gib)?;
    let tags = tags_in(b.get("Tags"))?;
    let state = &w.workspaces;
    state.image_for_bundle(c, image_id)?;
    let owned = move || {
        state
            .bundles
            .values()
            .filter(move |x| x.owner == c.account && x.region == c.region)
    };
    if owned().any(|x| x.name == name) {
        return Err(ApiError::client(
            EXISTS,
            format!("A bundle named {name} already exists."),
        ));
    }
    if state
        .deleted_names
        .get(&scoped(&c.account, &c.region, name))
        .is_some_and(|t| now < *t + NAME_HOLD_MS)
    {
        return Err(ApiError::client(
            EXISTS,
            format!(
                "A bundle named {name} was deleted less than 2 hours ago; its name is not yet free."
            ),
        ));
    }
    if owned().count() >= BUNDLE_QUOTA {
        return Err(ApiError::client(
            LIMIT,
            format!(
                "Your account can hold at most {BUNDLE_QUOTA} bundles in {}.",
                c.region
            ),
        ));
    }
    let id = w.id("wsb-", 9);
    let bundle = Bundle {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        name: name.into(),
        description: description.into(),
        image_id: image_id.into(),
        compute: compute.into(),
        root_gib,
        user_gib,
        created_ms: now,
        updated_ms: now,
        tags,
    };
    let out = json!({ "WorkspaceBundle": bundle_json(&bundle) });
    w.workspaces.bundles.insert(id, bundle);
    Ok(out)
}

pub(super) fn update_workspace_bundle(
    w: &mut World,
    c: &Call,
    now: u64,
) -> Result<Value, ApiError> {
    let b = &c.body;
    let bundle_id = required(b, "BundleId")?;
    let image_id = required(b, "ImageId")?;
    // The bundle first (not found / not yours), then the image.
    owned_bundle_mut(w, c, bundle_id)?;
    w.workspaces.image_for_bundle(c, image_id)?;
    // Existing WorkSpaces keep their image until they are rebuilt.
    let bundle = owned_bundle_mut(w, c, bundle_id)?;
    bundle.image_id = image_id.into();
    bundle.updated_ms = now;
    Ok(json!({}))
}

pub(super) fn delete_workspace_bundle(
    w: &mut World,
    c: &Call,
    now: u64,
) -> Result<Value, ApiError> {
    let bundle_id = required(&c.body, "BundleId")?;
    let name = owned_bundle_mut(w, c, bundle_id)?.name.clone();
    if let Some(ws) =
        w.workspaces.workspaces.values().find(|ws| {
            ws.account == c.account && ws.bundle_id == bundle_id && ws.state != "TERMINATED"
        })
    {
        return Err(ApiError::client(
            ASSOCIATED,
            format!("The bundle {bundle_id} is used by WorkSpace {}.", ws.id),
        ));
    }
    w.workspaces.bundles.remove(bundle_id);
    w.workspaces
        .deleted_names
        .insert(scoped(&c.account, &c.region, &name), now);
    Ok(json!({}))
}

pub(super) fn describe_workspace_bundles(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let ids = str_list(b.get("BundleIds"));
    let owner = opt_str(b, "Owner");
    if !ids.is_empty() && owner.is_some() {
        return Err(invalid("BundleIds and Owner cannot be combined."));
    }
    if ids.len() > 25 {
        return Err(invalid("BundleIds can hold at most 25 ids."));
    }
    let items: Vec<Value> = if !ids.is_empty() {
        ids.iter()
            .filter_map(|id| w.workspaces.visible_bundle(&c.account, &c.region, id))
            .map(|x| bundle_json(&x))
            .collect()
    } else if owner == Some("AMAZON") {
        PUBLIC_BUNDLES
            .iter()
            .filter_map(|p| w.workspaces.public_bundle_now(&c.region, p.id))
            .map(|x| bundle_json(&x))
            .collect()
    } else {
        w.workspaces
            .bundles
            .values()
            .filter(|x| {
                x.owner == c.account && x.region == c.region && owner.is_none_or(|o| o == c.account)
            })
            .map(bundle_json)
            .collect()
    };
    let (items, next) = page(items, opt_str(b, "NextToken"), None)?;
    Ok(json!({ "Bundles": items, "NextToken": next }))
}
