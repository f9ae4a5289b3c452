//! AppStream fleets: create, describe, update to a new image (instances replaced in turn), start,
//! stop, delete.

use super::*;

pub(super) fn create_fleet(a: &mut Appstream, c: &Call, now: u64) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    check_name("name", name)?;
    let instance_type = req_str(c, "InstanceType")?;
    check_instance_type(instance_type)?;
    let fleet_type = opt_str(c, "FleetType").unwrap_or("ON_DEMAND");
    if !matches!(fleet_type, "ALWAYS_ON" | "ON_DEMAND" | "ELASTIC") {
        return Err(validation(format!(
            "FleetType {fleet_type} is not ALWAYS_ON, ON_DEMAND or ELASTIC."
        )));
    }
    let role = check_role(c)?;
    let tags = tag_map(c.body.get("Tags"))?;
    let k = scoped(&c.account, &c.region, name);
    if a.fleets.contains_key(&k) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("A fleet named {name} already exists."),
        ));
    }
    let desired = capacity(c);
    let (subnet_ids, security_group_ids) = vpc(c);
    let (image_name, image_arn, platform) = if fleet_type == "ELASTIC" {
        if opt_str(c, "ImageName").is_some() || opt_str(c, "ImageArn").is_some() {
            return Err(invalid_combination(
                "Elastic fleets stream app blocks, not images: ImageName and ImageArn are not allowed.",
            ));
        }
        if desired.is_some() {
            return Err(invalid_combination(
                "ComputeCapacity is not allowed for Elastic fleets.",
            ));
        }
        if opt_i64(c, "MaxConcurrentSessions").is_none() {
            return Err(invalid_combination(
                "MaxConcurrentSessions is required for Elastic fleets.",
            ));
        }
        if subnet_ids.is_empty() {
            return Err(invalid_combination(
                "VpcConfig with subnets is required for Elastic fleets.",
            ));
        }
        let platform = opt_str(c, "Platform")
            .ok_or_else(|| invalid_combination("Platform is required for Elastic fleets."))?;
        (String::new(), String::new(), platform.to_string())
    } else {
        if desired.is_none() {
            return Err(invalid_combination(
                "ComputeCapacity is required for Always-On and On-Demand fleets.",
            ));
        }
        let img = a.source_image(c, Purpose::Fleet)?;
        (img.name.clone(), img.arn.clone(), img.platform.clone())
    };
    let fleet = Fleet {
        name: name.into(),
        account: c.account.clone(),
        region: c.region.clone(),
        arn: arn(&c.region, &c.account, "fleet", name),
        image_name,
        image_arn,
        instance_type: instance_type.into(),
        fleet_type: fleet_type.into(),
        desired: desired.unwrap_or(0),
        state: "STOPPED".into(),
        ready_at: now,
        created_ms: now,
        description: opt_str(c, "Description").unwrap_or_default().into(),
        display_name: opt_str(c, "DisplayName").unwrap_or_default().into(),
        subnet_ids,
        security_group_ids,
        internet_access: opt_bool(c, "EnableDefaultInternetAccess").unwrap_or(false),
        iam_role_arn: role.unwrap_or_default(),
        stream_view: opt_str(c, "StreamView").unwrap_or("APP").into(),
        platform,
        max_user_duration_secs: opt_i64(c, "MaxUserDurationInSeconds").unwrap_or(57_600),
        disconnect_timeout_secs: opt_i64(c, "DisconnectTimeoutInSeconds").unwrap_or(900),
        idle_disconnect_timeout_secs: opt_i64(c, "IdleDisconnectTimeoutInSeconds").unwrap_or(0),
        max_concurrent_sessions: opt_i64(c, "MaxConcurrentSessions"),
        tags,
        replaced_at: now,
        failing: false,
    };
    let out = json!({ "Fleet": fleet_json(&fleet, now) });
    a.fleets.insert(k, fleet);
    Ok(out)
}

pub(super) fn describe_fleets(a: &Appstream, c: &Call, now: u64) -> Result<Value, ApiError> {
    let names = str_list(c.body.get("Names"));
    if let Some(missing) = names
        .iter()
        .find(|n| !a.fleets.contains_key(&scoped(&c.account, &c.region, n)))
    {
        return Err(not_found("fleet", missing));
    }
    let items = a
        .fleets
        .values()
        .filter(|f| {
            f.account == c.account
                && f.region == c.region
                && (names.is_empty() || names.contains(&f.name))
        })
        .map(|f| fleet_json(f, now))
        .collect();
    page(c, "Fleets", items, None)
}

/// UpdateFleet: a new image for an Always-On or On-Demand fleet that is RUNNING or STOPPED (never an
/// Elastic one), capacity, instance type, VPC, role and the session settings.
/// What UpdateFleet may change in each state
/// (https://docs.aws.amazon.com/appstream2/latest/APIReference/API_UpdateFleet.html): anything but
/// the name when STOPPED; when RUNNING, only DisplayName, ComputeCapacity, ImageArn, ImageName and
/// the two disconnect timeouts (Always-On, On-Demand), or DisplayName, the timeouts,
/// MaxConcurrentSessions, SessionScriptS3Location and UsbDeviceFilterStrings (Elastic); nothing
/// while STARTING or STOPPING. The error code for a refused attribute is not documented; this one is
/// the simulator's choice.
pub(super) fn check_fleet_update(
    c: &Call,
    name: &str,
    elastic: bool,
    state: &str,
) -> Result<(), ApiError> {
    let allowed: &[&str] = match (state, elastic) {
        ("STOPPED", _) => return Ok(()),
        ("RUNNING", false) => &[
            "DisplayName",
            "ComputeCapacity",
            "ImageArn",
            "ImageName",
            "IdleDisconnectTimeoutInSeconds",
            "DisconnectTimeoutInSeconds",
        ],
        ("RUNNING", true) => &[
            "DisplayName",
            "IdleDisconnectTimeoutInSeconds",
            "DisconnectTimeoutInSeconds",
            "MaxConcurrentSessions",
            "SessionScriptS3Location",
            "UsbDeviceFilterStrings",
        ],
        _ => {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!("The fleet {name} is {state}; update it when it is RUNNING or STOPPED."),
            ));
        }
    };
    let members = c.body.as_object().into_iter().flat_map(|o| o.keys());
    let refused: Vec<&str> = members
        .map(String::as_str)
        .filter(|k| *k != "Name" && !allowed.contains(k))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(invalid_combination(format!(
        "The fleet {name} is RUNNING: {} cannot be changed until it is STOPPED.",
        refused.join(", ")
    )))
}

pub(super) fn update_fleet(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
    failing: bool,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let k = scoped(&c.account, &c.region, name);
    let Some(fleet) = a.fleets.get(&k) else {
        return Err(not_found("fleet", name));
    };
    let elastic = fleet.fleet_type == "ELASTIC";
    let state = fleet.state.clone();
    check_fleet_update(c, name, elastic, &state)?;
    let new_image = if opt_str(c, "ImageName").is_some() || opt_str(c, "ImageArn").is_some() {
        if elastic {
            return Err(invalid_combination(format!(
                "The fleet {name} is an Elastic fleet; its image cannot be changed."
            )));
        }
        if !matches!(state.as_str(), "RUNNING" | "STOPPED") {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!(
                    "The fleet {name} is {state}; change its image when it is RUNNING or STOPPED."
                ),
            ));
        }
        let img = a.source_image(c, Purpose::Fleet)?;
        Some((img.name.clone(), img.arn.clone(), img.platform.clone()))
    } else {
        None
    };
    let desired = capacity(c);
    if elastic && desired.is_some() {
        return Err(invalid_combination(
            "ComputeCapacity is not allowed for Elastic fleets.",
        ));
    }
    if let Some(t) = opt_str(c, "InstanceType") {
        check_instance_type(t)?;
    }
    let role = check_role(c)?;
    let deleted = str_list(c.body.get("AttributesToDelete"));
    let (subnet_ids, security_group_ids) = vpc(c);
    let f = a
        .fleets
        .get_mut(&k)
        .ok_or_else(|| not_found("fleet", name))?;
    if let Some((image_name, image_arn, platform)) = new_image {
        f.image_name = image_name;
        f.image_arn = image_arn;
        f.platform = platform;
        // A running fleet's instances move to the new image as they are replaced; a stopped one
        // starts on it (API_UpdateFleet).
        let running = f.state == "RUNNING";
        f.replaced_at = if running {
            now + d.fleet_replace_ms
        } else {
            now
        };
        f.failing = failing;
    }
    if let Some(n) = desired {
        f.desired = n;
    }
    if let Some(t) = opt_str(c, "InstanceType") {
        f.instance_type = t.into();
    }
    if let Some(r) = role {
        f.iam_role_arn = r;
    }
    if c.body.get("VpcConfig").is_some_and(Value::is_object) {
        f.subnet_ids = subnet_ids;
        f.security_group_ids = security_group_ids;
    }
    if opt_bool(c, "DeleteVpcConfig") == Some(true)
        || deleted.iter().any(|x| x == "VPC_CONFIGURATION")
    {
        f.subnet_ids.clear();
        f.security_group_ids.clear();
    }
    if deleted
        .iter()
        .any(|x| x == "VPC_CONFIGURATION_SECURITY_GROUP_IDS")
    {
        f.security_group_ids.clear();
    }
    if deleted.iter().any(|x| x == "IAM_ROLE_ARN") {
        f.iam_role_arn.clear();
    }
    if let Some(s) = opt_str(c, "Description") {
        f.description = s.into();
    }
    if let Some(s) = opt_str(c, "DisplayName") {
        f.display_name = s.into();
    }
    if let Some(s) = opt_str(c, "StreamView") {
        f.stream_view = s.into();
    }
    if let Some(b) = opt_bool(c, "EnableDefaultInternetAccess") {
        f.internet_access = b;
    }
    if let Some(n) = opt_i64(c, "MaxUserDurationInSeconds") {
        f.max_user_duration_secs = n;
    }
    if let Some(n) = opt_i64(c, "DisconnectTimeoutInSeconds") {
        f.disconnect_timeout_secs = n;
    }
    if let Some(n) = opt_i64(c, "IdleDisconnectTimeoutInSeconds") {
        f.idle_disconnect_timeout_secs = n;
    }
    if let Some(n) = opt_i64(c, "MaxConcurrentSessions") {
        f.max_concurrent_sessions = Some(n);
    }
    Ok(json!({ "Fleet": fleet_json(f, now) }))
}

/// StartFleet (STOPPED → STARTING → RUNNING) and StopFleet (→ STOPPING → STOPPED).
pub(super) fn change_fleet(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let f = a
        .fleets
        .get_mut(&scoped(&c.account, &c.region, name))
        .ok_or_else(|| not_found("fleet", name))?;
    let next = match (c.op.as_str(), f.state.as_str()) {
        ("StartFleet", "STOPPED") => Some("STARTING"),
        ("StopFleet", "RUNNING" | "STARTING") => Some("STOPPING"),
        ("StartFleet", "RUNNING" | "STARTING") | ("StopFleet", "STOPPED" | "STOPPING") => None,
        (_, state) => {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!("The fleet {name} is {state}; try again when it is RUNNING or STOPPED."),
            ));
        }
    };
    if let Some(state) = next {
        f.state = state.into();
        f.ready_at = now.saturating_add(d.builder_start_ms);
    }
    Ok(json!({}))
}

pub(super) fn delete_fleet(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let k = scoped(&c.account, &c.region, name);
    let f = a.fleets.get(&k).ok_or_else(|| not_found("fleet", name))?;
    if f.state != "STOPPED" {
        return Err(ApiError::client(
            "ResourceInUseException",
            format!(
                "The fleet {name} is {}; stop it before deleting it.",
                f.state
            ),
        ));
    }
    a.fleets.remove(&k);
    Ok(json!({}))
}
