//! EBS snapshots behind images: describe, delete, create-volume permissions.

use super::*;

pub(super) fn describe_snapshots(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "SnapshotId");
    let owners = list(&c.params, "Owner");
    let fs = filters(&c.params);
    let mut x = Xml::response("DescribeSnapshots", rid);
    x.open("snapshotSet");
    for s in w.ec2.snapshots.values() {
        let visible = s.owner == c.account
            || s.create_volume_permissions.contains(&c.account)
            || s.create_volume_permissions.contains("all");
        if s.region != c.region || !visible || (!ids.is_empty() && !ids.contains(&s.id)) {
            continue;
        }
        if !owners.is_empty()
            && !owners
                .iter()
                .any(|o| o == &s.owner || (o == "self" && s.owner == c.account))
        {
            continue;
        }
        if !matches_filters(&s.tags, &[("snapshot-id", s.id.as_str())], &fs) {
            continue;
        }
        x.open("item")
            .text("snapshotId", &s.id)
            .text("volumeId", "vol-ffffffff")
            .text("status", "completed")
            .text("startTime", &rfc3339(s.start_ms))
            .text("progress", "100%")
            .text("ownerId", &s.owner)
            .text("volumeSize", &s.size_gib.to_string())
            .text(
                "description",
                &format!("Created by CreateImage for {}", s.image_id),
            )
            .text("encrypted", "false");
        if !s.tags.is_empty() {
            x.tags(&s.tags);
        }
        x.close("item");
    }
    x.close("snapshotSet");
    x.finish("DescribeSnapshots")
}

pub(super) fn delete_snapshot(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = p(c, "SnapshotId")?.to_string();
    if !w
        .ec2
        .snapshots
        .get(&id)
        .is_some_and(|s| s.owner == c.account && s.region == c.region)
    {
        return Err(not_found("Snapshot", &id));
    }
    if let Some(img) = w
        .ec2
        .images
        .values()
        .find(|i| i.state != "deregistered" && i.snapshot_ids.contains(&id))
    {
        return Err(ApiError::client(
            "InvalidSnapshot.InUse",
            format!("The snapshot {id} is currently in use by {}", img.id),
        ));
    }
    w.ec2.snapshots.remove(&id);
    Ok(ok_return("DeleteSnapshot", rid))
}

pub(super) fn modify_snapshot_attribute(
    w: &mut World,
    c: &Call,
    rid: &str,
) -> Result<String, ApiError> {
    let id = p(c, "SnapshotId")?.to_string();
    let s = w
        .ec2
        .snapshots
        .get_mut(&id)
        .filter(|s| s.owner == c.account && s.region == c.region)
        .ok_or_else(|| not_found("Snapshot", &id))?;
    for i in 1.. {
        let add = c
            .params
            .get(&format!("CreateVolumePermission.Add.{i}.UserId"));
        let remove = c
            .params
            .get(&format!("CreateVolumePermission.Remove.{i}.UserId"));
        if add.is_none() && remove.is_none() {
            break;
        }
        if let Some(a) = add {
            s.create_volume_permissions.insert(a.clone());
        }
        if let Some(r) = remove {
            s.create_volume_permissions.remove(r);
        }
    }
    for u in list(&c.params, "UserId") {
        if opt(c, "OperationType") == Some("remove") {
            s.create_volume_permissions.remove(&u);
        } else {
            s.create_volume_permissions.insert(u);
        }
    }
    Ok(ok_return("ModifySnapshotAttribute", rid))
}

pub(super) fn describe_snapshot_attribute(
    w: &World,
    c: &Call,
    rid: &str,
) -> Result<String, ApiError> {
    let id = p(c, "SnapshotId")?;
    let s = w
        .ec2
        .snapshots
        .get(id)
        .filter(|s| s.owner == c.account && s.region == c.region)
        .ok_or_else(|| not_found("Snapshot", id))?;
    if p(c, "Attribute")? != "createVolumePermission" {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "aws-sim describes only the createVolumePermission attribute of snapshots",
        ));
    }
    let mut x = Xml::response("DescribeSnapshotAttribute", rid);
    x.text("snapshotId", id).open("createVolumePermission");
    for u in &s.create_volume_permissions {
        x.open("item").text("userId", u).close("item");
    }
    x.close("createVolumePermission");
    Ok(x.finish("DescribeSnapshotAttribute"))
}
