//! Launch templates: create (idempotent by ClientToken), add versions, set the default, describe.

use super::*;

fn template_xml(x: &mut Xml, t: &LaunchTemplate) {
    x.text("launchTemplateId", &t.id)
        .text("launchTemplateName", &t.name)
        .text("createTime", &rfc3339(t.created_ms))
        .text("createdBy", &format!("arn:aws:iam::{}:root", t.owner))
        .text("defaultVersionNumber", &t.default_version.to_string())
        .text(
            "latestVersionNumber",
            &t.versions.last().map_or(0, |v| v.0).to_string(),
        );
}

fn version_xml(x: &mut Xml, t: &LaunchTemplate, v: &(u64, String, String, String)) {
    x.text("launchTemplateId", &t.id)
        .text("launchTemplateName", &t.name)
        .text("versionNumber", &v.0.to_string())
        .text("versionDescription", &v.3)
        .text("createTime", &rfc3339(t.created_ms))
        .text(
            "defaultVersion",
            if v.0 == t.default_version {
                "true"
            } else {
                "false"
            },
        )
        .open("launchTemplateData")
        .text("imageId", &v.1)
        .text("instanceType", &v.2)
        .close("launchTemplateData");
}

/// A template version: its number, image, instance type and description.
type Version = (u64, String, String, String);

/// Launch templates: create, add versions, set the default, describe.
pub(super) fn launch_templates(
    w: &mut World,
    c: &Call,
    now: u64,
    rid: &str,
) -> Result<String, ApiError> {
    let op = c.op.as_str();
    let mut x = Xml::response(op, rid);
    match op {
        // A ClientToken makes both creates idempotent: the same token answers with what the first
        // call made. https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html
        // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html
        "CreateLaunchTemplate" => match idempotent(w, c, op) {
            Some(id) => replay_template(w, &id, &mut x)?,
            None => create_template(w, c, now, &mut x)?,
        },
        "CreateLaunchTemplateVersion" => match idempotent(w, c, op) {
            Some(made) => replay_version(w, &made, &mut x)?,
            None => create_version(w, c, &mut x)?,
        },
        "ModifyLaunchTemplate" => modify_template(w, c, &mut x)?,
        "DescribeLaunchTemplates" => describe_templates(w, c, &mut x),
        _ => describe_versions(w, c, &mut x)?,
    }
    Ok(x.finish(op))
}

/// The caller's template named `name` in the call's region.
fn by_name(w: &World, c: &Call, name: &str) -> Option<String> {
    (w.ec2.launch_templates.values())
        .find(|t| t.owner == c.account && t.region == c.region && t.name == name)
        .map(|t| t.id.clone())
}

/// The template the call names by `LaunchTemplateId` or `LaunchTemplateName`.
fn find(w: &World, c: &Call) -> Result<String, ApiError> {
    if let Some(id) = opt(c, "LaunchTemplateId") {
        return (w.ec2.launch_templates.get(id))
            .filter(|t| t.owner == c.account && t.region == c.region)
            .map(|t| t.id.clone())
            .ok_or_else(|| {
                ApiError::client(
                    "InvalidLaunchTemplateId.NotFound",
                    format!(
                        "The specified launch template, with template ID {id}, does not exist."
                    ),
                )
            });
    }
    let name = p(c, "LaunchTemplateName")?;
    by_name(w, c, name).ok_or_else(|| {
        ApiError::client(
            "InvalidLaunchTemplateName.NotFoundException",
            format!("The specified launch template, with template name {name}, does not exist."),
        )
    })
}

/// The image and instance type of the call's `LaunchTemplateData` (empty when not given).
fn data(c: &Call) -> (String, String) {
    let get = |k: &str| opt(c, k).unwrap_or_default().to_string();
    (
        get("LaunchTemplateData.ImageId"),
        get("LaunchTemplateData.InstanceType"),
    )
}

fn replay_template(w: &World, id: &str, x: &mut Xml) -> Result<(), ApiError> {
    let t = w.ec2.launch_templates.get(id).ok_or_else(|| {
        ApiError::client(
            "IdempotentParameterMismatch",
            "the token's template is gone",
        )
    })?;
    x.open("launchTemplate");
    template_xml(x, t);
    x.close("launchTemplate");
    Ok(())
}

fn replay_version(w: &World, made: &str, x: &mut Xml) -> Result<(), ApiError> {
    let (id, n) = made.split_once(':').unwrap_or_default();
    let t = w.ec2.launch_templates.get(id);
    let v = t.and_then(|t| t.versions.iter().find(|v| v.0.to_string() == n));
    let (Some(t), Some(v)) = (t, v) else {
        return Err(ApiError::client(
            "IdempotentParameterMismatch",
            "the token's version is gone",
        ));
    };
    x.open("launchTemplateVersion");
    version_xml(x, t, v);
    x.close("launchTemplateVersion");
    Ok(())
}

fn create_template(w: &mut World, c: &Call, now: u64, x: &mut Xml) -> Result<(), ApiError> {
    let name = p(c, "LaunchTemplateName")?.to_string();
    if by_name(w, c, &name).is_some() {
        return Err(ApiError::client(
            "InvalidLaunchTemplateName.AlreadyExistsException",
            format!("Launch template name already in use: {name}"),
        ));
    }
    let (image, itype) = data(c);
    let id = w.id("lt-", 17);
    let description = opt(c, "VersionDescription").unwrap_or_default().to_string();
    let t = LaunchTemplate {
        id: id.clone(),
        name,
        owner: c.account.clone(),
        region: c.region.clone(),
        created_ms: now,
        default_version: 1,
        versions: vec![(1, image, itype, description)],
    };
    x.open("launchTemplate");
    template_xml(x, &t);
    x.close("launchTemplate");
    remember(w, c, &c.op, &id);
    w.ec2.launch_templates.insert(id, t);
    Ok(())
}

/// A new version from `SourceVersion` (the default version when not given), with what the call
/// changes.
fn create_version(w: &mut World, c: &Call, x: &mut Xml) -> Result<(), ApiError> {
    let id = find(w, c)?;
    let (image, itype) = data(c);
    let t = w.ec2.launch_templates.get_mut(&id).expect("found above");
    let source = match opt(c, "SourceVersion") {
        Some("$Default") | None => t.default_version,
        Some("$Latest") => t.versions.last().map_or(1, |v| v.0),
        Some(n) => n.parse().unwrap_or(t.default_version),
    };
    let base = (t.versions.iter().find(|v| v.0 == source))
        .cloned()
        .unwrap_or_default();
    let number = t.versions.last().map_or(1, |v| v.0 + 1);
    let v = (
        number,
        if image.is_empty() { base.1 } else { image },
        if itype.is_empty() { base.2 } else { itype },
        opt(c, "VersionDescription").unwrap_or_default().to_string(),
    );
    t.versions.push(v.clone());
    x.open("launchTemplateVersion");
    version_xml(x, t, &v);
    x.close("launchTemplateVersion");
    remember(w, c, &c.op, &format!("{id}:{number}"));
    Ok(())
}

fn modify_template(w: &mut World, c: &Call, x: &mut Xml) -> Result<(), ApiError> {
    let id = find(w, c)?;
    let t = w.ec2.launch_templates.get_mut(&id).expect("found above");
    if let Some(v) = opt(c, "SetDefaultVersion") {
        let n: u64 = v.parse().map_err(|_| {
            ApiError::client(
                "InvalidLaunchTemplateVersion",
                format!("version {v} is not a number"),
            )
        })?;
        if !t.versions.iter().any(|x| x.0 == n) {
            return Err(ApiError::client(
                "InvalidLaunchTemplateId.VersionNotFound",
                format!("Could not find launch template version {n}"),
            ));
        }
        t.default_version = n;
    }
    x.open("launchTemplate");
    template_xml(x, t);
    x.close("launchTemplate");
    Ok(())
}

fn describe_templates(w: &World, c: &Call, x: &mut Xml) {
    let names = list(&c.params, "LaunchTemplateName");
    x.open("launchTemplates");
    for t in w.ec2.launch_templates.values().filter(|t| {
        t.owner == c.account
            && t.region == c.region
            && (names.is_empty() || names.contains(&t.name))
    }) {
        x.open("item");
        template_xml(x, t);
        x.close("item");
    }
    x.close("launchTemplates");
}

/// DescribeLaunchTemplateVersions: the versions asked for of one template, or, without a template,
/// the $Latest and/or $Default version of every template (API_DescribeLaunchTemplateVersions).
fn describe_versions(w: &World, c: &Call, x: &mut Xml) -> Result<(), ApiError> {
    let wanted = list(&c.params, "LaunchTemplateVersion");
    let whole_account =
        opt(c, "LaunchTemplateId").is_none() && opt(c, "LaunchTemplateName").is_none();
    let ids: Vec<String> = if whole_account {
        if wanted.is_empty() || wanted.iter().any(|v| v != "$Latest" && v != "$Default") {
            return Err(ApiError::client(
                "InvalidParameterCombination",
                "Without a launch template id or name, only the $Latest and $Default versions can be described.",
            ));
        }
        (w.ec2.launch_templates.iter())
            .filter(|(_, t)| t.owner == c.account && t.region == c.region)
            .map(|(id, _)| id.clone())
            .collect()
    } else {
        vec![find(w, c)?]
    };
    x.open("launchTemplateVersionSet");
    for id in ids {
        let t = &w.ec2.launch_templates[&id];
        for v in t.versions.iter().filter(|v| is_wanted(t, v, &wanted)) {
            x.open("item");
            version_xml(x, t, v);
            x.close("item");
        }
    }
    x.close("launchTemplateVersionSet");
    Ok(())
}

/// Whether version `v` of `t` is one of `wanted` (numbers, `$Default`, `$Latest`; all when empty).
fn is_wanted(t: &LaunchTemplate, v: &Version, wanted: &[String]) -> bool {
    let latest = t.versions.last().map(|l| l.0);
    wanted.is_empty()
        || wanted.iter().any(|w| {
            w == &v.0.to_string()
                || (w == "$Default" && v.0 == t.default_version)
                || (w == "$Latest" && Some(v.0) == latest)
        })
}
