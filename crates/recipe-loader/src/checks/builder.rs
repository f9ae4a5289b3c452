//! The checks of the base and the builder: what each target can start from and build on.

use super::*;

pub(super) fn check_base(cx: &mut Check<'_>, spec: &dyn TargetSpec) {
    let base = &cx.r.recipe.base;
    let t = cx.target;
    let allowed = spec.bases();
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

/// The builder settings that are written, with where: the language's, then the sections targets
/// declare under `builder`.
fn builder_present(b: &recipe_model::Builder) -> Vec<(&'static str, Option<Span>)> {
    let declared = b.sections.spans().map(|(k, s)| (k, Some(s)));
    let own = [
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
    own.into_iter().chain(declared).collect()
}

pub(super) fn check_builder(cx: &mut Check<'_>, spec: &dyn TargetSpec) {
    let b = &cx.r.recipe.builder;
    let t = cx.target;
    let allowed = spec.builder_fields();
    for (name, span) in builder_present(b) {
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

pub(super) fn check_region(cx: &mut Check<'_>, r: &Node<String>) {
    check_region_as(
        cx,
        r,
        "write a region code such as `eu-west-2` or `us-east-1`",
    );
}

/// A region code: its shape, then that AWS has such a region (or the user allowed it).
pub(super) fn check_region_as(cx: &mut Check<'_>, r: &Node<String>, shape_help: &str) {
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
