//! The AWS regions `recipe` knows, in one place. A region AWS opens later is allowed with
//! `--allow-region NAME` or `RECIPE_ALLOW_REGIONS` until this list learns it.
//!
//! Source: "AWS Regions" in the AWS General Reference
//! (<https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html>), as of
//! 2026-11: the commercial regions, AWS GovCloud (US) and the China regions.

/// Every region code, sorted.
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// The JSON Schema pattern a region matches (its shape; the list itself is checked by `recipe
/// validate`, so that a region AWS opens later can be allowed without a new schema).
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$";

/// Whether `name` is a known region.
pub fn is_known(name: &str) -> bool {
    REGIONS.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_unique_and_well_formed() {
        let re = regex_lite_match;
        assert!(REGIONS.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(
            REGIONS.iter().all(|r| re(r)),
            "every code has a region's shape"
        );
        assert!(is_known("eu-central-1") && !is_known("eu-centrl-1"));
    }

    /// The shape of [`REGION_PATTERN`], without a regex dependency in the model.
    fn regex_lite_match(r: &str) -> bool {
        let parts: Vec<&str> = r.split('-').collect();
        parts.len() >= 3
            && parts[0].len() == 2
            && parts.last().is_some_and(|n| n.parse::<u8>().is_ok())
    }
}
