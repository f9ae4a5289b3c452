//! "Did you mean" suggestions by edit distance.

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The fix for a region name AWS does not have (`None` when it has it, or `allow` lists it): the
/// nearest known region, and how to allow one that AWS opened after this version of recipe. Said the
/// same way for a recipe's regions and for `--region` or AWS_REGION.
pub fn unknown_region_help(name: &str, allow: &[String]) -> Option<String> {
    if recipe_model::regions::is_known(name) || allow.iter().any(|a| a == name) {
        return None;
    }
    let regions = recipe_model::regions::REGIONS.iter().copied();
    let newer = format!(
        "if AWS opened `{name}` after this version of recipe, allow it with `--allow-region {name}` (or RECIPE_ALLOW_REGIONS)"
    );
    Some(match did_you_mean(name, regions) {
        Some(n) => format!("did you mean `{n}`? If {}", &newer[3..]),
        None => format!("check the code against the AWS Regions list; {newer}"),
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(
            did_you_mean("retires", ["retries", "timeout"]),
            Some("retries")
        );
        assert_eq!(did_you_mean("zzz", ["retries", "timeout"]), None);
    }
}
