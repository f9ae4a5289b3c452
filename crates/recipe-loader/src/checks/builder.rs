//! The checks of the base and the builder: what each target can start from and build on.

use super::*;

/// WorkSpaces gives a user one WorkSpace per directory: two recipes building as the same user in the
/// same directory and region would refuse each other's builder. Reported on the later recipe.
pub(super) fn check_builder_user(cx: &mut Ctx<'_>, set: &RecipeSet) {
    let key = |r: &LoadedRecipe| {
        let b = &r.recipe.builder;
        let user = b.user_name.as_ref()?;
        let dir = b.directory_id.as_ref()?;
        let region = b.region.as_ref().map(|n| n.value.clone());
        Some((dir.value.clone(), user.value.to_lowercase(), region))
    };
    if cx.target != Target::Workspaces {
        return;
    }
    let Some(mine) = key(cx.r) else { return };
    let earlier = set
        .recipes
        .iter()
        .take_while(|o| !std::ptr::eq(*o, cx.r))
        .filter(|o| o.recipe.target.value == Target::Workspaces)
        .find(|o| key(o).as_ref() == Some(&mine));
    let (Some(other), Some(user)) = (earlier, &cx.r.recipe.builder.user_name) else {
        return;
    };
    let span = user.span;
    cx.push(
        Code::SharedBuilderUser,
        span,
        format!(
            "`{}` builds as `{}` in directory {}, as `{}` does: WorkSpaces gives a user one WorkSpace per directory, so one build would refuse the other's builder",
            cx.r.recipe.name.value, user.value, mine.0, other.recipe.name.value
        ),
        "give each WorkSpaces recipe its own builder user (`builder.user-name`)",
        "already the builder user of another recipe",
    );
}

pub(super) fn check_base(cx: &mut Ctx<'_>) {
    let base = &cx.r.recipe.base;
    let t = cx.target;
    let allowed: &[&str] = match t {
        Target::Ec2Ami => &["ssm-parameter", "ami-filter", "image-id", "recipe"],
        Target::Workspaces => &["bundle", "workspace", "image-id", "recipe"],
        Target::Appstream => &["appstream-image", "recipe"],
    };
    if !allowed.contains(&base.kind()) {
        cx.push(
            Code::BaseTarget,
            base.span,
            format!(
                "{} `{}` recipe cannot start from {} `{}` base",
                article(t.as_str()),
                t.as_str(),
                article(base.kind()),
                base.kind()
            ),
            format!("use one of: {}", allowed.join(", ")),
            "wrong base for this target",
        );
        return;
    }
    if let Base::ImageId(id) = &base.value {
        let (ok, want) = match t {
            Target::Workspaces => (WSI_ID.is_match(id), "a WorkSpaces image id `wsi-…`"),
            _ => (
                AMI_ID.is_match(id),
                "an AMI id `ami-` and 8 or 17 hexadecimal digits",
            ),
        };
        if !ok {
            cx.push(
                Code::ImageId,
                id.span,
                format!("`{}` is not {want}", id.value),
                format!("write {want}"),
                "malformed id",
            );
        }
    }
    if let Base::AmiFilter(f) = &base.value {
        if f.owners.is_empty() {
            // Anyone can publish an AMI named like Amazon's: without owners, DescribeImages matches
            // every public AMI ("Understand AMI name confusion", EC2 User Guide).
            cx.push(
                Code::AmiOwners,
                base.span,
                "an `ami-filter` base without `owners` takes the newest public AMI of any account whose name matches",
                "add `owners: [amazon]` (Amazon's AMIs), `[aws-marketplace]`, or the 12-digit account id that publishes the base",
                "no owners",
            );
        }
        for o in &f.owners {
            if !(ACCOUNT.is_match(o) || ["self", "amazon", "aws-marketplace"].contains(&o.as_str()))
            {
                cx.push(
                    Code::AccountId,
                    o.span,
                    format!("owner `{}` is not an account id or alias", o.value),
                    "write a 12-digit account id, `self`, `amazon` or `aws-marketplace`",
                    "invalid owner",
                );
            }
        }
    }
}

pub(super) fn check_builder(cx: &mut Ctx<'_>) {
    let b = &cx.r.recipe.builder;
    let t = cx.target;
    let present: [(&str, Option<Span>); 12] = [
        ("region", b.region.as_ref().map(|n| n.span)),
        ("instance-type", b.instance_type.as_ref().map(|n| n.span)),
        ("subnet-id", b.subnet_id.as_ref().map(|n| n.span)),
        (
            "security-group-ids",
            b.security_group_ids.first().map(|n| n.span),
        ),
        (
            "instance-profile",
            b.instance_profile.as_ref().map(|n| n.span),
        ),
        ("iam-role-arn", b.iam_role_arn.as_ref().map(|n| n.span)),
        (
            "volume-size-gib",
            b.volume_size_gib.as_ref().map(|n| n.span),
        ),
        ("directory-id", b.directory_id.as_ref().map(|n| n.span)),
        ("user-name", b.user_name.as_ref().map(|n| n.span)),
        (
            "internet-access",
            b.internet_access.as_ref().map(|n| n.span),
        ),
        ("domain-join", b.domain_join.as_ref().map(|n| n.span)),
        ("agent-version", b.agent_version.as_ref().map(|n| n.span)),
    ];
    let allowed: &[&str] = match t {
        Target::Ec2Ami => &[
            "region",
            "instance-type",
            "subnet-id",
            "security-group-ids",
            "instance-profile",
            "volume-size-gib",
        ],
        Target::Workspaces => &["region", "directory-id", "user-name"],
        Target::Appstream => &[
            "region",
            "instance-type",
            "subnet-id",
            "security-group-ids",
            "iam-role-arn",
            "internet-access",
            "domain-join",
            "agent-version",
        ],
    };
    for (name, span) in present {
        if let Some(span) = span
            && !allowed.contains(&name)
        {
            cx.push(
                Code::BuilderTarget,
                span,
                format!(
                    "builder setting `{name}` does not apply to target `{}`",
                    t.as_str()
                ),
                format!(
                    "remove it; the builder settings for `{}` are: {}",
                    t.as_str(),
                    allowed.join(", ")
                ),
                "not used by this target",
            );
        }
    }
    let missing = |cx: &mut Ctx<'_>, field: &str, why: &str| {
        let span = cx.r.recipe.target.span;
        cx.push(
            Code::BuilderMissing,
            span,
            format!("target `{}` needs `builder.{field}`", cx.target.as_str()),
            format!("add `builder: {{ {field}: … }}`: {why}"),
            "this target",
        );
    };
    match t {
        Target::Workspaces if !matches!(cx.r.recipe.base.value, Base::Workspace(_)) => {
            if b.directory_id.is_none() {
                missing(
                    cx,
                    "directory-id",
                    "the builder WorkSpace is created in a directory",
                );
            }
            if b.user_name.is_none() {
                missing(
                    cx,
                    "user-name",
                    "the builder WorkSpace is created for a directory user",
                );
            }
        }
        // A managed update has no builder.
        Target::Appstream if b.instance_type.is_none() && !cx.r.recipe.managed_update() => {
            missing(
                cx,
                "instance-type",
                "image builders need a `stream.*` instance type",
            );
        }
        _ => {}
    }
    if let Some(it) = &b.instance_type {
        let bad = match t {
            Target::Appstream => (!it.starts_with("stream."))
                .then_some("an AppStream instance type, e.g. `stream.standard.medium`"),
            _ => (it.starts_with("stream.") || !EC2_TYPE.is_match(it))
                .then_some("an EC2 instance type, e.g. `t3.small`"),
        };
        if let Some(want) = bad {
            cx.push(
                Code::InstanceType,
                it.span,
                format!("`{}` is not {want}", it.value),
                format!("write {want}"),
                "wrong instance type",
            );
        }
    }
    if let Some(r) = &b.region {
        check_region(cx, r);
    }
    if let Some(arn) = &b.iam_role_arn
        && !ROLE_ARN.is_match(arn)
    {
        cx.push(
            Code::Arn,
            arn.span,
            format!("`{}` is not an IAM role ARN", arn.value),
            "write `arn:aws:iam::<12-digit account>:role/<name>`",
            "malformed ARN",
        );
    }
}

pub(super) fn check_region(cx: &mut Ctx<'_>, r: &Node<String>) {
    check_region_as(
        cx,
        r,
        "write a region code such as `eu-west-2` or `us-east-1`",
    );
}

/// A region code: its shape, then that AWS has such a region (or the user allowed it).
pub(super) fn check_region_as(cx: &mut Ctx<'_>, r: &Node<String>, shape_help: &str) {
    if !REGION.is_match(r) {
        cx.push(
            Code::Region,
            r.span,
            format!("`{}` is not an AWS region", r.value),
            shape_help,
            "not a region",
        );
        return;
    }
    let Some(help) = crate::suggest::unknown_region_help(r, cx.allow_regions) else {
        return;
    };
    cx.push(
        Code::UnknownRegion,
        r.span,
        format!("there is no AWS region `{}`", r.value),
        help,
        "unknown region",
    );
}
