//! The words of a plan's preflight finding, shared by the providers that check their builders'
//! prerequisites (docs/plan-apply.md#preflight).

/// A finding for a lookup that failed with `code` and `message`: "does not exist" for a not-found
/// error (EC2's `*.NotFound`, IAM's `NoSuchEntity`, KMS's `NotFoundException`), else that it could
/// not be checked (the plan goes on; apply would meet the same error).
pub fn finding(
    code: &str,
    message: &str,
    what: &str,
    id: &str,
    region: &str,
    field: &str,
) -> String {
    let not_found = code.ends_with(".NotFound")
        || [
            "NoSuchEntity",
            "NotFoundException",
            "ResourceNotFoundException",
            "ParameterNotFound",
        ]
        .contains(&code);
    if not_found {
        format!(
            "the {what} {id} does not exist in {region} (fix: create it, or name one that exists in `{field}`)"
        )
    } else {
        format!(
            "could not check the {what} {id} in {region}: {code} {message} (fix: allow the plan's read-only calls, docs/iam.md)"
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn not_found_codes_say_it_does_not_exist_and_others_that_it_could_not_be_checked() {
        let f = |code| {
            super::finding(
                code,
                "m",
                "subnet",
                "subnet-1",
                "eu-west-2",
                "builder.subnet-id",
            )
        };
        for code in [
            "InvalidSubnetID.NotFound",
            "NoSuchEntity",
            "NotFoundException",
        ] {
            assert!(
                f(code).starts_with("the subnet subnet-1 does not exist in eu-west-2"),
                "{code}"
            );
        }
        assert!(f("UnauthorizedOperation").starts_with("could not check the subnet subnet-1"));
    }
}
