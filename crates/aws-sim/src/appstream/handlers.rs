//! One function per AppStream operation (the Image Assistant, run on a builder, is in `assistant.rs`).

use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::Durations;
use crate::ec2::Ec2;
use crate::members::{is_account, scoped, str_list, ts};
use crate::protocol::{Call, Output};
use crate::world::World;

use super::model::*;
use super::state::*;
use super::wire::*;

mod builders;
mod fleets;
mod images;

use builders::*;
use fleets::*;
use images::*;

/// Handle one AppStream call.
pub fn handle(w: &mut World, r: &crate::protocol::Req<'_>) -> Result<Output, ApiError> {
    let (c, now, d) = (r.call, r.now, r.durations);
    w.appstream.seed(&c.region);
    if matches!(
        c.op.as_str(),
        "CreateImageBuilder" | "CreateFleet" | "UpdateFleet" | "CreateImportedImage"
    ) {
        check_role_in(w, c)?;
    }
    let out = match c.op.as_str() {
        "CreateImageBuilder" => create_image_builder(&mut w.appstream, c, now, d)?,
        "DescribeImageBuilders" => describe_image_builders(&w.appstream, c)?,
        "StartImageBuilder" | "StopImageBuilder" | "DeleteImageBuilder" => {
            change_image_builder(&mut w.appstream, c, now, d)?
        }
        "CreateImageBuilderStreamingURL" => streaming_url(w, c, now)?,
        "CreateUpdatedImage" => create_updated_image(&mut w.appstream, c, now, d)?,
        "CreateImportedImage" => create_imported_image(w, c, now, d)?,
        "DescribeImages" => describe_images(&w.appstream, c)?,
        "CopyImage" => copy_image(&mut w.appstream, c, now, d)?,
        "DeleteImage" => delete_image(&mut w.appstream, c)?,
        "UpdateImagePermissions" => update_image_permissions(&mut w.appstream, c)?,
        "DeleteImagePermissions" => delete_image_permissions(&mut w.appstream, c)?,
        "DescribeImagePermissions" => describe_image_permissions(&w.appstream, c)?,
        "CreateFleet" => create_fleet(&mut w.appstream, c, now)?,
        "DescribeFleets" => describe_fleets(&w.appstream, c, now)?,
        "UpdateFleet" => {
            let failing = w.take_failure("appstream-fleet");
            update_fleet(&mut w.appstream, c, now, d, failing)?
        }
        "StartFleet" | "StopFleet" => change_fleet(&mut w.appstream, c, now, d)?,
        "DeleteFleet" => delete_fleet(&mut w.appstream, c)?,
        "TagResource" | "UntagResource" | "ListTagsForResource" => tags(&mut w.appstream, c)?,
        op => return Err(ApiError::unsupported("appstream", op)),
    };
    Ok(Output::Value(out))
}

/// TagResource, UntagResource and ListTagsForResource on the caller's images, image builders and fleets.
fn tags(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
    let resource = req_str(c, "ResourceArn")?;
    let tags = a.tags_of(c, resource).ok_or_else(|| {
        ApiError::client(
            "ResourceNotFoundException",
            format!("The resource {resource} does not exist."),
        )
    })?;
    match c.op.as_str() {
        "TagResource" => {
            let mut merged = tags.clone();
            merged.extend(tag_map(c.body.get("Tags"))?);
            check_tags(&merged)?;
            *tags = merged;
            Ok(json!({}))
        }
        "UntagResource" => {
            for k in str_list(c.body.get("TagKeys")) {
                tags.remove(&k);
            }
            Ok(json!({}))
        }
        _ => Ok(json!({ "Tags": &*tags })),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::Protocol;

    const NOW: u64 = 1_800_000_000_000;
    const A: &str = "111111111111";
    const B: &str = "222222222222";
    const BASE: &str = "AppStream-WinServer2022-06-17-2025";

    fn run(
        w: &mut World,
        d: &Durations,
        account: &str,
        op: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        let call = Call {
            service: "appstream".into(),
            op: op.into(),
            protocol: Protocol::Cbor,
            region: "us-east-1".into(),
            account: account.into(),
            params: BTreeMap::new(),
            body,
            raw: vec![],
        };
        w.appstream.tick(NOW, d);
        let req = crate::protocol::Req {
            call: &call,
            now: NOW,
            durations: d,
            request_id: "test",
        };
        match handle(w, &req)? {
            Output::Value(v) => Ok(v),
            Output::Xml(_) => panic!("AppStream answers JSON values"),
        }
    }

    /// Account A captures `app-1` on builder `b1` (instant phases).
    fn captured(w: &mut World) {
        let d = Durations::instant();
        let b = run(
            w,
            &d,
            A,
            "CreateImageBuilder",
            json!({ "Name": "b1", "ImageName": BASE, "InstanceType": "stream.standard.medium" }),
        )
        .unwrap();
        assert_eq!(b["ImageBuilder"]["State"], "PENDING");
        assert_eq!(assistant_create(w, "app-1").status, "Success");
    }

    /// The Image Assistant's `create-image --name <name>` on builder `b1` of account A.
    fn assistant_create(w: &mut World, name: &str) -> super::super::assistant::Outcome {
        let d = Durations::instant();
        w.appstream.tick(NOW, &d);
        let script = format!("AppStreamImageAssistant create-image --name '{name}'");
        let (op, flags) = super::super::assistant::calls(&script).remove(0);
        let key = scoped(A, "us-east-1", "b1");
        super::super::assistant::run(&mut w.appstream, &key, &op, &flags, NOW, &d)
    }

    #[test]
    fn a_builder_captures_an_image_and_stops() {
        let mut w = World::default();
        let d = Durations::instant();
        captured(&mut w);
        let images = run(
            &mut w,
            &d,
            A,
            "DescribeImages",
            json!({ "Names": ["app-1"] }),
        )
        .unwrap();
        assert_eq!(images["Images"][0]["State"], "AVAILABLE");
        assert_eq!(images["Images"][0]["Visibility"], "PRIVATE");
        assert_eq!(images["Images"][0]["ImageBuilderName"], "b1");
        let builders = run(&mut w, &d, A, "DescribeImageBuilders", json!({})).unwrap();
        assert_eq!(builders["ImageBuilders"][0]["State"], "STOPPED");
        let stopped = assistant_create(&mut w, "app-2");
        assert_eq!(stopped.code, 1, "a STOPPED builder runs nothing");
        assert!(stopped.stdout.contains("STOPPED"), "{}", stopped.stdout);
        let e = run(
            &mut w,
            &d,
            A,
            "CreateImageBuilder",
            json!({ "Name": "b1", "ImageName": BASE, "InstanceType": "stream.standard.medium" }),
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceAlreadyExistsException");
    }

    #[test]
    fn sharing_is_per_account_and_revoking_drains_fleets() {
        let mut w = World::default();
        let d = Durations::instant();
        captured(&mut w);
        let fleet = json!({ "Name": "f", "ImageName": "app-1", "InstanceType": "stream.standard.small", "FleetType": "ALWAYS_ON", "ComputeCapacity": { "DesiredInstances": 2 } });
        assert_eq!(
            run(&mut w, &d, B, "CreateFleet", fleet.clone())
                .unwrap_err()
                .code,
            "ResourceNotFoundException"
        );
        run(&mut w, &d, A, "UpdateImagePermissions", json!({ "Name": "app-1", "SharedAccountId": B, "ImagePermissions": { "allowFleet": true, "allowImageBuilder": false } })).unwrap();
        let shared = run(&mut w, &d, B, "DescribeImages", json!({ "Type": "SHARED" })).unwrap();
        assert_eq!(shared["Images"][0]["Name"], "app-1");
        assert_eq!(
            shared["Images"][0]["ImagePermissions"],
            json!({ "allowFleet": true, "allowImageBuilder": false })
        );
        run(&mut w, &d, B, "CreateFleet", fleet).unwrap();
        let e = run(
            &mut w,
            &d,
            B,
            "CreateImageBuilder",
            json!({ "Name": "b", "ImageName": "app-1", "InstanceType": "stream.standard.medium" }),
        )
        .unwrap_err();
        assert_eq!(e.code, "OperationNotPermittedException");
        assert_eq!(
            run(&mut w, &d, A, "DeleteImage", json!({ "Name": "app-1" }))
                .unwrap_err()
                .code,
            "ResourceInUseException"
        );
        run(
            &mut w,
            &d,
            A,
            "DeleteImagePermissions",
            json!({ "Name": "app-1", "SharedAccountId": B }),
        )
        .unwrap();
        let fleets = run(&mut w, &d, B, "DescribeFleets", json!({ "Names": ["f"] })).unwrap();
        assert_eq!(fleets["Fleets"][0]["ComputeCapacityStatus"]["Desired"], 0);
        assert_eq!(
            run(&mut w, &d, B, "DescribeImages", json!({ "Type": "SHARED" })).unwrap()["Images"],
            json!([])
        );
    }

    #[test]
    fn copies_run_two_at_a_time_per_destination_and_drop_tags() {
        let mut w = World::default();
        captured(&mut w);
        let slow = Durations {
            appstream_image_ms: 60_000,
            ..Durations::instant()
        };
        let arn = format!("arn:aws:appstream:us-east-1:{A}:image/app-1");
        run(
            &mut w,
            &slow,
            A,
            "TagResource",
            json!({ "ResourceArn": arn, "Tags": { "team": "x" } }),
        )
        .unwrap();
        for (i, want) in [(1, None), (2, None), (3, Some("LimitExceededException"))] {
            let r = run(
                &mut w,
                &slow,
                A,
                "CopyImage",
                json!({ "SourceImageName": "app-1", "DestinationImageName": format!("copy-{i}"), "DestinationRegion": "eu-west-2" }),
            );
            assert_eq!(r.err().map(|e| e.code), want.map(str::to_string));
        }
        let copy = &w.appstream.images[&scoped(A, "eu-west-2", "copy-1")];
        assert_eq!(copy.state, "COPYING");
        assert!(copy.tags.is_empty());
    }
}
