//! EC2 instances: launch (with the VPC and quota rules), describe, stop, start, terminate.

use super::*;

fn instance_state_code(state: &str) -> &'static str {
    match state {
        "pending" => "0",
        "running" => "16",
        "shutting-down" => "32",
        "terminated" => "48",
        "stopping" => "64",
        _ => "80",
    }
}

fn instance_xml(x: &mut Xml, i: &Instance) {
    x.open("item")
        .text("instanceId", &i.id)
        .text("imageId", &i.image_id)
        .open("instanceState")
        .text("code", instance_state_code(&i.state))
        .text("name", &i.state)
        .close("instanceState")
        .text("instanceType", &i.instance_type)
        .text("launchTime", &rfc3339(i.launch_ms))
        .open("placement")
        .text("availabilityZone", &format!("{}a", i.region))
        .close("placement")
        .text("subnetId", &i.subnet_id)
        .text("architecture", "x86_64")
        .text("rootDeviceType", "ebs")
        .text("rootDeviceName", "/dev/xvda");
    if i.platform == "Windows" {
        x.text("platform", "windows");
    }
    if !i.instance_profile.is_empty() {
        x.open("iamInstanceProfile")
            .text(
                "arn",
                &format!(
                    "arn:aws:iam::{}:instance-profile/{}",
                    i.owner, i.instance_profile
                ),
            )
            .close("iamInstanceProfile");
    }
    x.open("metadataOptions")
        .text("state", "applied")
        .text("httpTokens", &i.http_tokens)
        .text("httpEndpoint", "enabled")
        .close("metadataOptions");
    x.open("groupSet");
    for g in &i.security_groups {
        x.open("item").text("groupId", g).close("item");
    }
    x.close("groupSet");
    if !i.tags.is_empty() {
        x.tags(&i.tags);
    }
    x.close("item");
}

pub(super) fn run_instances(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
    rid: &str,
) -> Result<String, ApiError> {
    let reservation = w.id("r-", 17);
    let ids: Vec<String> = match idempotent(w, c, "RunInstances") {
        Some(ids) => ids.split(',').map(str::to_string).collect(),
        None => {
            // With no subnet, EC2 launches into the default VPC; an account without one is refused
            // (API_RunInstances: "If you don't specify a subnet ID, we choose a default subnet from
            // your default VPC"; error `VPCIdNotSpecified`).
            let subnet = c
                .params
                .get("SubnetId")
                .or_else(|| c.params.get("NetworkInterface.1.SubnetId"));
            if subnet.is_none() && !crate::ec2_access::has_default_vpc(w, &c.account, &c.region) {
                return Err(ApiError::client(
                    "VPCIdNotSpecified",
                    "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
                ));
            }
            let mut image_id = p(c, "ImageId")?.to_string();
            if let Some(param) = image_id.strip_prefix("resolve:ssm:") {
                image_id = w.ssm.resolve(&c.account, &c.region, param).ok_or_else(|| {
                    ApiError::client(
                        "InvalidParameterValue",
                        format!("SSM parameter {param} does not exist"),
                    )
                })?;
            }
            let img = w
                .ec2
                .images
                .get(&image_id)
                .filter(|i| {
                    i.region == c.region && i.state != "deregistered" && Ec2::visible(i, &c.account)
                })
                .cloned()
                .ok_or_else(|| not_found("AMI", &image_id))?;
            // A named key pair must exist (API_RunInstances.html, KeyName).
            if let Some(key) = opt(c, "KeyName")
                && !crate::ec2_access::key_exists(w, c, key)
            {
                return Err(ApiError::client(
                    "InvalidKeyPair.NotFound",
                    format!("The key pair '{key}' does not exist"),
                ));
            }
            if img.state != "available" {
                return Err(ApiError::client(
                    "InvalidAMIID.Unavailable",
                    format!(
                        "The image id '[{image_id}]' is not available ({})",
                        img.state
                    ),
                ));
            }
            let count: usize = opt(c, "MinCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let instance_type = opt(c, "InstanceType").unwrap_or("m1.small");
            crate::quotas::check_launch(w, c, instance_type, count as u64)?;
            let sgs = list(&c.params, "SecurityGroupId");
            let profile = opt(c, "IamInstanceProfile.Name")
                .map(str::to_string)
                .or_else(|| {
                    opt(c, "IamInstanceProfile.Arn")
                        .and_then(|a| a.rsplit('/').next())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let mut ids = Vec::new();
            for _ in 0..count {
                let id = w.id("i-", 17);
                w.ec2.instances.insert(
                    id.clone(),
                    Instance {
                        id: id.clone(),
                        owner: c.account.clone(),
                        region: c.region.clone(),
                        image_id: image_id.clone(),
                        instance_type: opt(c, "InstanceType").unwrap_or("m1.small").into(),
                        state: "pending".into(),
                        next_at: now + d.instance_start_ms,
                        launch_ms: now,
                        tags: tag_specs(&c.params, "instance"),
                        subnet_id: opt(c, "SubnetId").unwrap_or("subnet-00000000").into(),
                        security_groups: sgs.clone(),
                        instance_profile: profile.clone(),
                        http_tokens: opt(c, "MetadataOptions.HttpTokens")
                            .unwrap_or("optional")
                            .into(),
                        platform: img.platform.clone(),
                        ..Default::default()
                    },
                );
                crate::machine::attach(w, &id, &img);
                ids.push(id);
            }
            remember(w, c, "RunInstances", &ids.join(","));
            ids
        }
    };
    let mut x = Xml::response("RunInstances", rid);
    x.text("reservationId", &reservation)
        .text("ownerId", &c.account)
        .open("instancesSet");
    for id in &ids {
        if let Some(i) = w.ec2.instances.get(id) {
            instance_xml(&mut x, i);
        }
    }
    x.close("instancesSet");
    Ok(x.finish("RunInstances"))
}

pub(super) fn describe_instances(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "InstanceId");
    let fs = filters(&c.params);
    let mut x = Xml::response("DescribeInstances", rid);
    x.open("reservationSet");
    for i in w.ec2.instances.values() {
        if i.region != c.region || i.owner != c.account || (!ids.is_empty() && !ids.contains(&i.id))
        {
            continue;
        }
        let fields = [
            ("instance-state-name", i.state.as_str()),
            ("instance-id", i.id.as_str()),
            ("image-id", i.image_id.as_str()),
        ];
        if !matches_filters(&i.tags, &fields, &fs) {
            continue;
        }
        x.open("item")
            .text("reservationId", &format!("r-{}", &i.id[2..]))
            .text("ownerId", &i.owner)
            .open("instancesSet");
        instance_xml(&mut x, i);
        x.close("instancesSet").close("item");
    }
    x.close("reservationSet");
    x.finish("DescribeInstances")
}

pub(super) fn change_instances(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
    rid: &str,
) -> Result<String, ApiError> {
    let ids = list(&c.params, "InstanceId");
    if ids.is_empty() {
        return Err(ApiError::missing("InstanceId"));
    }
    for id in &ids {
        if !w
            .ec2
            .instances
            .get(id)
            .is_some_and(|i| i.region == c.region && i.owner == c.account)
        {
            return Err(not_found("Instance", id));
        }
    }
    let (set, target, wait) = match c.op.as_str() {
        "StopInstances" => ("stoppingInstances", "stopping", d.instance_stop_ms),
        "StartInstances" => ("startingInstances", "pending", d.instance_start_ms),
        _ => ("terminatingInstances", "shutting-down", d.instance_stop_ms),
    };
    let mut x = Xml::response(&c.op, rid);
    x.open(set);
    for id in &ids {
        let i = w.ec2.instances.get_mut(id).expect("checked above");
        let previous = i.state.clone();
        let settled = matches!(
            (c.op.as_str(), previous.as_str()),
            ("StopInstances", "stopped" | "terminated")
                | ("StartInstances", "running")
                | ("TerminateInstances", "terminated")
        );
        if c.op == "StartInstances" && previous == "terminated" {
            return Err(ApiError::client(
                "IncorrectInstanceState",
                format!("The instance '{id}' is not in a state from which it can be started."),
            ));
        }
        if !settled {
            i.state = target.into();
            i.next_at = now + wait;
            i.running_since = None;
            if c.op == "StartInstances" && w.machines.contains_key(id) {
                w.jobs.push(crate::machine::Job::Boot {
                    instance: id.clone(),
                });
            }
            if target == "shutting-down" && w.machines.contains_key(id) {
                w.jobs.push(crate::machine::Job::Remove {
                    instance: id.clone(),
                });
            }
        }
        x.open("item")
            .text("instanceId", id)
            .open("currentState")
            .text("code", instance_state_code(&i.state))
            .text("name", &i.state)
            .close("currentState")
            .open("previousState")
            .text("code", instance_state_code(&previous))
            .text("name", &previous)
            .close("previousState")
            .close("item");
    }
    x.close(set);
    Ok(x.finish(&c.op))
}
