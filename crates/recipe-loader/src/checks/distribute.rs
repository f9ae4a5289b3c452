//! The checks of distribution and rollout: regions, shares, and the sections each target has.

use super::*;

pub(super) fn check_distribute(cx: &mut Ctx<'_>) {
    let Some(d) = &cx.r.recipe.distribute else {
        return;
    };
    let mut seen = BTreeSet::new();
    for r in &d.regions {
        check_region(cx, r);
        if !seen.insert(r.value.clone()) {
            cx.push(
                Code::DuplicateRegion,
                r.span,
                format!("region `{}` is listed twice", r.value),
                "remove the second entry",
                "duplicate",
            );
        }
    }
    let build_region = cx.r.recipe.builder.region.as_ref().map(|r| r.value.clone());
    for (region, key) in &d.kms_keys {
        let before = cx.out.len();
        check_region_as(
            cx,
            region,
            "key `kms-keys` by region code, e.g. `eu-west-2`",
        );
        if cx.out.len() > before {
            continue;
        } else if !seen.contains(region.value.as_str())
            && build_region.as_deref() != Some(region.as_str())
        {
            cx.push(
                Code::KmsUnusedRegion,
                key.span,
                format!("a KMS key for `{region}`, where the image is not copied"),
                format!("add `{region}` to `distribute.regions`, or remove the key"),
                "unused key",
            );
        }
        if !KMS_KEY.is_match(key) {
            cx.push(
                Code::Arn,
                key.span,
                format!("`{}` is not a KMS key ARN, alias or id", key.value),
                "write `arn:aws:kms:<region>:<account>:key/<id>`, `alias/<name>` or a key id",
                "malformed key",
            );
        }
    }
    for a in &d.share.accounts {
        if !ACCOUNT.is_match(a.id()) {
            cx.push(
                Code::AccountId,
                a.span,
                format!("`{}` is not an AWS account id", a.id()),
                "write the 12-digit account id as a quoted string, e.g. \"111122223333\"",
                "not 12 digits",
            );
        }
        if matches!(a.value, AccountShare::WithPermissions(_)) && cx.target != Target::Appstream {
            cx.wrong_target(
                a.span,
                "fleet / image-builder permissions",
                "`appstream` recipes",
            );
        }
    }
    for o in &d.share.organizations {
        if cx.target != Target::Ec2Ami {
            cx.wrong_target(
                o.span,
                "share.organizations",
                "`ec2-ami` recipes: WorkSpaces and AppStream share with accounts",
            );
        } else if !ORG_ARN.is_match(o) {
            cx.push(
                Code::Arn,
                o.span,
                format!("`{}` is not an organization ARN", o.value),
                "write `arn:aws:organizations::<management account>:organization/o-<id>`",
                "malformed ARN",
            );
        }
    }
    for o in &d.share.organizational_units {
        if cx.target != Target::Ec2Ami {
            cx.wrong_target(
                o.span,
                "share.organizational-units",
                "`ec2-ami` recipes: WorkSpaces and AppStream share with accounts",
            );
        } else if !OU_ARN.is_match(o) {
            cx.push(
                Code::Arn,
                o.span,
                format!("`{}` is not an organizational unit ARN", o.value),
                "write `arn:aws:organizations::<management account>:ou/o-<id>/ou-<id>`",
                "malformed ARN",
            );
        }
    }
    if cx.target != Target::Ec2Ami {
        if let Some((_, k)) = d.kms_keys.iter().next() {
            cx.wrong_target(k.span, "kms-keys", "`ec2-ami` recipes");
        }
        if let Some(e) = &d.encrypted {
            cx.wrong_target(e.span, "encrypted", "`ec2-ami` recipes (WorkSpaces images must not be encrypted; encrypt WorkSpaces at deployment)");
        }
    }
}

/// A bundle is made on the image's copy in each region it lists, so each must be a copy region.
pub(super) fn check_bundle_regions(cx: &mut Ctx<'_>, regions: &[Node<String>]) {
    check_image_regions(cx, regions, Code::BundleRegion, "the bundle is to be made");
}

/// `rollout.regions`: `ec2-ami` only, each a region the image is in.
pub(super) fn check_rollout_regions(cx: &mut Ctx<'_>) {
    let Some(ro) = &cx.r.recipe.rollout else {
        return;
    };
    let regions = &ro.value.regions;
    if let Some(first) = regions.first()
        && cx.target != Target::Ec2Ami
    {
        cx.push(
            Code::RolloutRegion,
            first.span,
            "`rollout.regions` applies to `ec2-ami` rollouts (SSM parameter, launch templates)",
            "remove it: bundles follow `bundle.regions`, fleets are in the build region",
            "not for this target",
        );
        return;
    }
    check_image_regions(
        cx,
        regions,
        Code::RolloutRegion,
        "the rollout is to be made",
    );
}

/// Each of `regions` is the build region or one of `distribute.regions`.
pub(super) fn check_image_regions(
    cx: &mut Ctx<'_>,
    regions: &[Node<String>],
    code: Code,
    what: &str,
) {
    let copied: BTreeSet<String> = (cx.r.recipe.distribute.iter())
        .flat_map(|d| d.regions.iter().map(|r| r.value.clone()))
        .collect();
    let build = cx.r.recipe.builder.region.as_ref().map(|r| r.value.clone());
    for r in regions {
        let before = cx.out.len();
        check_region(cx, r);
        if cx.out.len() > before || copied.contains(&r.value) || build.as_ref() == Some(&r.value) {
            continue;
        }
        cx.push(
            code,
            r.span,
            format!("{what} in `{}`, where the image is not copied", r.value),
            format!(
                "add `{}` to `distribute.regions`, or remove it here",
                r.value
            ),
            "no image here",
        );
    }
}

pub(super) fn check_target_sections(cx: &mut Ctx<'_>) {
    check_rollout_regions(cx);
    let rec = &cx.r.recipe;
    if let Some(b) = &rec.bundle {
        if cx.target != Target::Workspaces {
            cx.wrong_target(b.span, "bundle", "`workspaces` recipes");
        } else {
            check_bundle_regions(cx, &b.regions);
            check_tags(cx, b.tags.iter());
            let (root, user) = (b.root_volume_gib.value, b.user_volume_gib.value);
            let compute = b.compute.value;
            if !compute.volumes_allowed(root, user) {
                let span = b.root_volume_gib.span;
                cx.push(
                    Code::VolumeSize,
                    span,
                    format!("WorkSpaces cannot make a {} bundle with volumes of {root} GiB (root) and {user} GiB (user)", compute.api_name()),
                    compute.volume_rule(),
                    "impossible volume sizes",
                );
            }
        }
    }
    if let Some(ro) = &rec.rollout {
        let v = &ro.value;
        let checks: [(bool, Option<Span>, &str, &str); 4] = [
            (
                cx.target == Target::Ec2Ami,
                v.launch_templates.first().map(|n| n.span),
                "rollout.launch-templates",
                "`ec2-ami` recipes",
            ),
            (
                cx.target == Target::Ec2Ami,
                v.ssm_parameter.as_ref().map(|n| n.span),
                "rollout.ssm-parameter",
                "`ec2-ami` recipes",
            ),
            (
                cx.target == Target::Workspaces,
                v.rebuild_workspaces.as_ref().map(|n| n.span),
                "rollout.rebuild-workspaces",
                "`workspaces` recipes",
            ),
            (
                cx.target == Target::Appstream,
                v.fleets.first().map(|n| n.span),
                "rollout.fleets",
                "`appstream` recipes",
            ),
        ];
        for (ok, span, what, allowed) in checks {
            if let Some(span) = span
                && !ok
            {
                cx.wrong_target(span, what, allowed);
            }
        }
        if let Some(rw) = &v.rebuild_workspaces
            && !(1..=100).contains(&rw.batch)
        {
            cx.push(
                Code::InvalidValue,
                rw.span,
                format!("a rebuild batch of {} WorkSpaces", rw.batch),
                "rebuild 1 to 100 WorkSpaces at a time",
                "batch out of range",
            );
        }
        if let Some(rw) = &v.rebuild_workspaces
            && rec.bundle.is_none()
        {
            cx.push(
                Code::SectionTarget,
                rw.span,
                "rebuilding WorkSpaces needs a bundle to rebuild them on",
                "add a `bundle:` section",
                "no bundle",
            );
        }
    }
    if let Some(ret) = &rec.retain {
        if let Some(k) = &ret.keep
            && k.value == 0
        {
            cx.push(
                Code::KeepZero,
                k.span,
                "`keep: 0` would retire every version, the new one too",
                "keep at least 1",
                "keep at least 1",
            );
        }
        if let Some(d) = &ret.deprecate_after
            && cx.target != Target::Ec2Ami
        {
            cx.wrong_target(
                d.span,
                "retain.deprecate-after",
                "`ec2-ami` recipes (only AMIs can be deprecated)",
            );
        }
    }
}
