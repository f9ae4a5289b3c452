//! Request members and answer shapes shared by the JSON-bodied services (WorkSpaces over awsJson1_1,
//! AppStream over RPC v2 CBOR; both bodies are decoded to JSON first), so that every service reads
//! strings, lists, pages and tags one way. Each service keeps its own error codes and limits, as its
//! API reference gives them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// A string member; an empty string counts as absent.
pub fn opt_str<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A list of strings (absent: empty; non-strings are skipped).
pub fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A timestamp (epoch milliseconds), written by the protocol layer as epoch seconds (awsJson) or CBOR
/// tag 1.
pub fn ts(ms: u64) -> Value {
    json!({ "$ts": ms as f64 / 1000.0 })
}

/// Whether `s` is an AWS account id (12 digits).
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The key of a resource named `name` of `account` in `region`: names are unique per account and
/// region.
pub fn scoped(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// One page of `items`. The token aws-sim hands out is the offset of the next page; a token it did not
/// hand out is refused (`Err` with the message), as AWS refuses tokens it did not issue.
pub fn paginate(
    items: Vec<Value>,
    token: Option<&str>,
    limit: Option<usize>,
) -> Result<(Vec<Value>, Option<String>), String> {
    let total = items.len();
    let start = match token {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= total)
            .ok_or_else(|| format!("The NextToken {t} is not valid."))?,
        None => 0,
    };
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    let next = (end < total).then(|| end.to_string());
    let page = items.into_iter().skip(start).take(end - start).collect();
    Ok((page, next))
}

/// A service's tag rules: key and value lengths in characters, and the most tags a resource holds.
#[derive(Clone, Copy, Debug)]
pub struct TagRules {
    /// Longest key.
    pub key_max: usize,
    /// Longest value.
    pub value_max: usize,
    /// Most tags on one resource.
    pub max_tags: usize,
}

/// Why a tag set is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TagProblem {
    /// A key or value that breaks the rules (the message says which).
    Invalid(String),
    /// More tags than a resource may hold.
    TooMany(String),
}

/// Check tags against `rules`: keys of 1 to `key_max` characters that do not start with `aws:` (any
/// case), values of at most `value_max`, at most `max_tags` of them.
pub fn check_tags(tags: &BTreeMap<String, String>, rules: TagRules) -> Result<(), TagProblem> {
    for (k, v) in tags {
        let len = k.chars().count();
        if len == 0 || len > rules.key_max || k.to_ascii_lowercase().starts_with("aws:") {
            return Err(TagProblem::Invalid(format!(
                "The tag key '{k}' is not valid: 1 to {} characters, not beginning with aws:.",
                rules.key_max
            )));
        }
        if v.chars().count() > rules.value_max {
            return Err(TagProblem::Invalid(format!(
                "The value of tag '{k}' is longer than {} characters.",
                rules.value_max
            )));
        }
    }
    if tags.len() > rules.max_tags {
        return Err(TagProblem::TooMany(format!(
            "A resource can have at most {} tags.",
            rules.max_tags
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_their_tokens_and_foreign_tokens_are_refused() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let (p1, next) = paginate(items.clone(), None, Some(2)).unwrap();
        assert_eq!((p1.len(), next.as_deref()), (2, Some("2")));
        let (p3, next) = paginate(items.clone(), Some("4"), Some(2)).unwrap();
        assert_eq!((p3.len(), next), (1, None));
        assert!(paginate(items.clone(), Some("9"), None).is_err());
        assert!(paginate(items, Some("x"), None).is_err());
    }

    #[test]
    fn tags_are_checked_against_the_service_rules() {
        let rules = TagRules {
            key_max: 3,
            value_max: 2,
            max_tags: 1,
        };
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(check_tags(&one("abc", "de"), rules).is_ok());
        assert!(matches!(
            check_tags(&one("abcd", ""), rules),
            Err(TagProblem::Invalid(_))
        ));
        assert!(matches!(
            check_tags(&one("AWS:x", ""), rules),
            Err(TagProblem::Invalid(_))
        ));
        assert!(matches!(
            check_tags(&one("a", "xyz"), rules),
            Err(TagProblem::Invalid(_))
        ));
        let two = BTreeMap::from([("a".into(), String::new()), ("b".into(), String::new())]);
        assert!(matches!(
            check_tags(&two, rules),
            Err(TagProblem::TooMany(_))
        ));
    }
}
