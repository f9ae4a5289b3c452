//! AppStream image builders: create, describe, start, stop, delete, and streaming URLs.

use super::*;

pub(super) fn create_image_builder(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    check_name("name", name)?;
    let instance_type = req_str(c, "InstanceType")?;
    check_instance_type(instance_type)?;
    let role = check_role(c)?;
    let tags = tag_map(c.body.get("Tags"))?;
    let k = scoped(&c.account, &c.region, name);
    if a.builders.contains_key(&k) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("An image builder named {name} already exists."),
        ));
    }
    let image = a.source_image(c, Purpose::ImageBuilder)?;
    let (subnet_ids, security_group_ids) = vpc(c);
    // API_VpcConfig: "Fleet instances use one or more subnets. Image builder instances use one
    // subnet." The error code for more than one is not documented; this is the simulator's choice.
    if subnet_ids.len() > 1 {
        return Err(invalid_combination(format!(
            "An image builder takes one subnet; {} were given.",
            subnet_ids.len()
        )));
    }
    // The builder's network interface: its id and private address are made up (in 10.0.0.0/8), not
    // taken from its subnet's range.
    let eni: Vec<u8> = {
        use sha2::Digest;
        sha2::Sha256::digest(format!("{k}/{now}").as_bytes()).to_vec()
    };
    let eni_hex: String = eni.iter().map(|b| format!("{b:02x}")).collect();
    let builder = ImageBuilder {
        name: name.into(),
        account: c.account.clone(),
        region: c.region.clone(),
        arn: arn(&c.region, &c.account, "image-builder", name),
        image_arn: image.arn.clone(),
        description: opt_str(c, "Description").unwrap_or_default().into(),
        display_name: opt_str(c, "DisplayName").unwrap_or_default().into(),
        instance_type: instance_type.into(),
        platform: image.platform.clone(),
        iam_role_arn: role.unwrap_or_default(),
        subnet_ids,
        security_group_ids,
        internet_access: opt_bool(c, "EnableDefaultInternetAccess").unwrap_or(false),
        state: "PENDING".into(),
        ready_at: now.saturating_add(d.builder_start_ms),
        created_ms: now,
        tags,
        // API_CreateImageBuilder: AppstreamAgentVersion `[LATEST]` (or `LATEST`) asks for the latest
        // agent; absent, the builder keeps its image's.
        agent_version: match opt_str(c, "AppstreamAgentVersion") {
            Some("LATEST" | "[LATEST]") => AGENT_VERSION.to_string(),
            Some(v) => v.to_string(),
            None => image.agent().to_string(),
        },
        bootstrap: image.bootstrap,
        eni_ip: format!("10.{}.{}.{}", eni[0], eni[1], eni[2].max(4)),
        eni_id: format!("eni-{}", &eni_hex[..17]),
        ..Default::default()
    };
    let out = json!({ "ImageBuilder": builder_json(&builder) });
    a.builders.insert(k, builder);
    Ok(out)
}

pub(super) fn describe_image_builders(a: &Appstream, c: &Call) -> Result<Value, ApiError> {
    let names = str_list(c.body.get("Names"));
    if let Some(missing) = names
        .iter()
        .find(|n| !a.builders.contains_key(&scoped(&c.account, &c.region, n)))
    {
        return Err(not_found("image builder", missing));
    }
    let items = a
        .builders
        .values()
        .filter(|b| {
            b.account == c.account
                && b.region == c.region
                && (names.is_empty() || names.contains(&b.name))
        })
        .map(builder_json)
        .collect();
    page(c, "ImageBuilders", items, None)
}

/// StartImageBuilder (STOPPED → PENDING → RUNNING), StopImageBuilder (RUNNING → STOPPING → STOPPED),
/// DeleteImageBuilder (→ DELETING → gone).
pub(super) fn change_image_builder(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let b = a
        .builders
        .get_mut(&scoped(&c.account, &c.region, name))
        .ok_or_else(|| not_found("image builder", name))?;
    let next = match (c.op.as_str(), b.state.as_str()) {
        ("StartImageBuilder", "STOPPED") => Some("PENDING"),
        ("StopImageBuilder", "RUNNING") => Some("STOPPING"),
        // AWS-FACTS.md and the console: an image builder is deleted once it is STOPPED (a FAILED one
        // cannot be stopped, so it is deleted as it is).
        ("DeleteImageBuilder", "STOPPED" | "FAILED") => Some("DELETING"),
        ("DeleteImageBuilder", "RUNNING") => {
            return Err(ApiError::client(
                "OperationNotPermittedException",
                format!("The image builder {name} is RUNNING; stop it before deleting it."),
            ));
        }
        ("StartImageBuilder", "RUNNING" | "PENDING")
        | ("StopImageBuilder", "STOPPED" | "STOPPING") => None,
        ("StartImageBuilder", "FAILED") => {
            return Err(ApiError::client(
                "ResourceNotAvailableException",
                format!("The image builder {name} has FAILED; delete it."),
            ));
        }
        ("StopImageBuilder", "FAILED") => {
            return Err(ApiError::client(
                "OperationNotPermittedException",
                format!("The image builder {name} has FAILED and cannot be stopped."),
            ));
        }
        (_, state) => {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!(
                    "The image builder {name} is {state}; try again when it is RUNNING or STOPPED."
                ),
            ));
        }
    };
    if let Some(state) = next {
        b.state = state.into();
        b.ready_at = now.saturating_add(d.builder_start_ms);
    }
    Ok(json!({ "ImageBuilder": builder_json(b) }))
}

pub(super) fn streaming_url(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let validity = opt_i64(c, "Validity").unwrap_or(3600);
    if !(1..=604_800).contains(&validity) {
        return Err(validation(format!(
            "Validity {validity} is not between 1 and 604800 seconds."
        )));
    }
    let state = w
        .appstream
        .builders
        .get(&scoped(&c.account, &c.region, name))
        .map(|b| b.state.clone())
        .ok_or_else(|| not_found("image builder", name))?;
    if state != "RUNNING" {
        return Err(ApiError::client(
            "OperationNotPermittedException",
            format!("The image builder {name} is {state}; it must be RUNNING to stream from it."),
        ));
    }
    let parameters = w.id("", 32);
    let signature = w.id("", 32);
    let expires = now.saturating_add(
        u64::try_from(validity)
            .unwrap_or_default()
            .saturating_mul(1000),
    );
    Ok(json!({
        "StreamingURL": format!("https://appstream2.{}.aws.amazon.com/authenticate?parameters={parameters}&signature={signature}", c.region),
        "Expires": ts(expires),
    }))
}
