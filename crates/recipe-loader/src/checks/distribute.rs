//! The checks of distribution and rollout: regions, shares, and the sections each target has.

use super::*;

pub(super) fn check_distribute(cx: &mut Check<'_>) {
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
    }
    for o in &d.share.organizations {
        if !ORG_ARN.is_match(o) {
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
        if !OU_ARN.is_match(o) {
            cx.push(
                Code::Arn,
                o.span,
                format!("`{}` is not an organizational unit ARN", o.value),
                "write `arn:aws:organizations::<management account>:ou/o-<id>/ou-<id>`",
                "malformed ARN",
            );
        }
    }
}

/// Each of `regions` is the build region or one of `distribute.regions`.
pub(super) fn check_image_regions(
    cx: &mut Check<'_>,
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

/// The keys only some targets take (a [`crate::Section`]'s `key`), with their paths in the schema
/// (none where the schema cannot say it: one form of a list's items).
pub const SECTIONS: &[(&str, Option<&[&str]>)] = &[
    ("image.display-name", Some(&["image", "display-name"])),
    ("image.update-default-profile", None),
    ("kms-keys", Some(&["distribute", "kms-keys"])),
    ("encrypted", Some(&["distribute", "encrypted"])),
    (
        "share.organizations",
        Some(&["distribute", "share", "organizations"]),
    ),
    (
        "share.organizational-units",
        Some(&["distribute", "share", "organizational-units"]),
    ),
    ("fleet / image-builder permissions", None),
    ("rollout.regions", Some(&["rollout", "regions"])),
    (
        "rollout.launch-templates",
        Some(&["rollout", "launch-templates"]),
    ),
    ("rollout.ssm-parameter", Some(&["rollout", "ssm-parameter"])),
    ("rollout.fleets", Some(&["rollout", "fleets"])),
    (
        "retain.deprecate-after",
        Some(&["retain", "deprecate-after"]),
    ),
];

/// The keys only some targets take, with where they are written: the language's own, and the
/// sections targets declare (at the top and under `rollout`; `builder`'s are builder settings).
fn sections_present(rec: &recipe_model::Recipe) -> Vec<(String, Span)> {
    let mut out: Vec<(String, Span)> = (rec.sections.spans())
        .map(|(k, s)| (k.to_string(), s))
        .collect();
    if let Some(ro) = &rec.rollout {
        let declared = ro.value.sections.spans();
        out.extend(declared.map(|(k, s)| (format!("rollout.{k}"), s)));
    }
    let mut add = |key: &str, span: Option<Span>| out.extend(span.map(|s| (key.to_string(), s)));
    let img = &rec.image;
    add(
        "image.display-name",
        img.display_name.as_ref().map(|d| d.span),
    );
    let profile = img.update_default_profile.as_ref().filter(|u| u.value);
    add("image.update-default-profile", profile.map(|u| u.span));
    if let Some(d) = &rec.distribute {
        add("kms-keys", d.kms_keys.iter().next().map(|(_, k)| k.span));
        add("encrypted", d.encrypted.as_ref().map(|e| e.span));
        add(
            "share.organizations",
            d.share.organizations.first().map(|o| o.span),
        );
        let ous = d.share.organizational_units.first();
        add("share.organizational-units", ous.map(|o| o.span));
        let perms = d.share.accounts.iter();
        let perms = perms.filter(|a| matches!(a.value, AccountShare::WithPermissions(_)));
        for a in perms {
            add("fleet / image-builder permissions", Some(a.span));
        }
    }
    if let Some(ro) = &rec.rollout {
        let v = &ro.value;
        add("rollout.regions", v.regions.first().map(|n| n.span));
        add(
            "rollout.launch-templates",
            v.launch_templates.first().map(|n| n.span),
        );
        add(
            "rollout.ssm-parameter",
            v.ssm_parameter.as_ref().map(|n| n.span),
        );
        add("rollout.fleets", v.fleets.first().map(|n| n.span));
    }
    let deprecate = rec.retain.as_ref().and_then(|r| r.deprecate_after.as_ref());
    add("retain.deprecate-after", deprecate.map(|d| d.span));
    out
}

/// Each key only some targets take is one this target takes; `keep` and `rollout.regions` are as
/// AWS can do them.
pub(super) fn check_sections(cx: &mut Check<'_>, spec: &dyn TargetSpec) {
    let mut rollout_regions_ok = true;
    for (key, span) in sections_present(&cx.r.recipe) {
        if spec.sections().iter().any(|s| s.key == key) {
            continue;
        }
        let takers = cx.set.targets.iter().flat_map(|t| t.sections());
        if !takers.into_iter().any(|s| s.key == key) {
            // Declared by a target this load does not serve.
            let help = "remove it: no target served here takes it";
            let message = format!("unknown field `{key}`");
            cx.push(Code::UnknownField, span, message, help, "not a field here");
            continue;
        }
        let allowed = cx.set.targets.owners(&key, |t| t.sections());
        if key == "rollout.regions" {
            rollout_regions_ok = false;
            cx.push(
                Code::RolloutRegion,
                span,
                format!("`rollout.regions` applies to {allowed}"),
                "remove it: the target's rollouts have no region",
                "not for this target",
            );
        } else {
            cx.wrong_target(span, &key, &allowed);
        }
    }
    if let Some(ro) = cx.r.recipe.rollout.as_ref().filter(|_| rollout_regions_ok) {
        let what = "the rollout is to be made";
        check_image_regions(cx, &ro.value.regions, Code::RolloutRegion, what);
    }
    let keep = cx.r.recipe.retain.as_ref().and_then(|r| r.keep.as_ref());
    if let Some(k) = keep.filter(|k| k.value == 0) {
        cx.push(
            Code::KeepZero,
            k.span,
            "`keep: 0` would retire every version, the new one too",
            "keep at least 1",
            "keep at least 1",
        );
    }
}
