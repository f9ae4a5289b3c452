//! What killed runs left, found by tags: builders (`recipe:role=builder`) of builds this apply does
//! not run, unless kept for debugging (`recipe:keep`); and images of an interrupted apply that is not
//! resumed, which state does not record, with their snapshots. Images of other unknown builds are
//! never touched: they may belong to state kept elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use recipe_aws::Context;
use recipe_engine::{ApplyContext, SweepRequest, Swept};

use crate::in_use::LIVE_INSTANCE;
use crate::{Ec2Provider, filter, tag_value};

/// Sweep the scopes of `request`, each in its known regions (or its build region).
pub(crate) async fn sweep(p: &Ec2Provider, cx: &ApplyContext, request: &SweepRequest) -> Swept {
    let mut by_region: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for s in &request.scopes {
        let mut regions = s.regions.clone();
        if regions.is_empty()
            && let Ok(r) = cx.recipe(&s.recipe)
        {
            regions.push(p.home(r));
        }
        for r in regions {
            by_region.entry(r).or_default().push(&s.recipe);
        }
    }
    let mut swept = Swept::default();
    for (region, names) in by_region {
        sweep_region(p, &region, &names, request, &mut swept).await;
    }
    swept
}

/// Remove what killed runs left in one region (see the module docs).
pub async fn sweep_orphans(
    p: &Ec2Provider,
    region: &str,
    recipes: &[&str],
    request: &SweepRequest,
) -> Swept {
    let mut swept = Swept::default();
    sweep_region(p, region, recipes, request, &mut swept).await;
    swept
}

async fn sweep_region(
    p: &Ec2Provider,
    region: &str,
    names: &[&str],
    request: &SweepRequest,
    swept: &mut Swept,
) {
    let client = p.ec2(region);
    sweep_builders(&client, region, names, &request.current, swept).await;
    if !request.abandoned.is_empty() {
        let (abandoned, recorded) = (&request.abandoned, &request.recorded);
        sweep_images(&client, region, names, abandoned, recorded, swept).await;
    }
}

/// Terminate, in one call, the builders in `region` of these recipes whose build is not `current`
/// and that are not kept for debugging.
async fn sweep_builders(
    client: &aws_sdk_ec2::Client,
    region: &str,
    names: &[&str],
    current: &BTreeSet<String>,
    swept: &mut Swept,
) {
    let found = match client
        .describe_instances()
        .filters(filter("tag:recipe:role", &["builder"]))
        .filters(filter("tag:recipe:name", names))
        .filters(filter("instance-state-name", &LIVE_INSTANCE))
        .send()
        .await
        .ctx("ec2", "DescribeInstances")
    {
        Ok(out) => out,
        Err(e) => {
            return swept
                .problems
                .push(format!("builders in {region} could not be listed: {e}"));
        }
    };
    // (instance, recipe, build)
    let stray: Vec<(String, String, String)> = found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            let tag = |k: &str| tag_value(i.tags(), k);
            let build = tag("recipe:build-id").unwrap_or_default();
            if current.contains(&build) || tag("recipe:keep").is_some() {
                return None;
            }
            let recipe = tag("recipe:name").unwrap_or_default();
            Some((i.instance_id()?.to_string(), recipe, build))
        })
        .collect();
    if stray.is_empty() {
        return;
    }
    let ids: Vec<String> = stray.iter().map(|(id, _, _)| id.clone()).collect();
    match client
        .terminate_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .ctx("ec2", "TerminateInstances")
    {
        Ok(_) => swept.builders.extend(
            stray
                .iter()
                .map(|(id, recipe, build)| format!("{recipe}: {id} ({build})")),
        ),
        Err(e) => swept.problems.push(format!(
            "the builders {} could not be terminated: {e}",
            ids.join(", ")
        )),
    }
}

/// Deregister the images in `region` of `abandoned` builds of these recipes that state does not
/// record, with their snapshots.
async fn sweep_images(
    client: &aws_sdk_ec2::Client,
    region: &str,
    names: &[&str],
    abandoned: &BTreeSet<String>,
    recorded: &BTreeSet<String>,
    swept: &mut Swept,
) {
    let builds: Vec<&str> = abandoned.iter().map(String::as_str).collect();
    let found = match client
        .describe_images()
        .owners("self")
        .filters(filter("tag:recipe:build-id", &builds))
        .filters(filter("tag:recipe:name", names))
        .send()
        .await
        .ctx("ec2", "DescribeImages")
    {
        Ok(out) => out,
        Err(e) => {
            return swept
                .problems
                .push(format!("images in {region} could not be listed: {e}"));
        }
    };
    for img in found.images() {
        let Some(id) = img.image_id() else { continue };
        if recorded.contains(id) {
            continue;
        }
        let tag = |k: &str| tag_value(img.tags(), k).unwrap_or_default();
        // DeregisterImage takes one image.
        match client
            .deregister_image()
            .image_id(id)
            .delete_associated_snapshots(true)
            .send()
            .await
            .ctx("ec2", "DeregisterImage")
        {
            Ok(_) => swept.images.push(format!(
                "{}: {id} in {region} ({})",
                tag("recipe:name"),
                tag("recipe:build-id")
            )),
            Err(e) => swept.problems.push(format!(
                "the image {id} in {region} could not be deregistered: {e}"
            )),
        }
    }
}
