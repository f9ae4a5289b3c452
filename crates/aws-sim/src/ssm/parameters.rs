//! Parameter Store: get (one or many), put (versions, reserved names), delete, and describe with
//! filters and pages.

use super::*;

/// A parameter as GetParameter and GetParameters answer it: without `WithDecryption` a
/// SecureString's value is returned encrypted (API_GetParameter, API_GetParameters).
pub(super) fn read_param(p: &Parameter, c: &Call) -> Value {
    let mut v = param_json(p, &c.region, &c.account);
    let decrypt = c.body.get("WithDecryption").and_then(Value::as_bool) == Some(true);
    if p.kind == "SecureString" && !decrypt {
        v["Value"] = json!(sealed(&p.value));
    }
    v
}

pub(super) fn get_parameter(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let name = s(b, "Name")?;
    let p = w.ssm.get(&c.account, &c.region, name).ok_or_else(|| {
        ApiError::client("ParameterNotFound", format!("Parameter {name} not found."))
    })?;
    Ok(json!({ "Parameter": read_param(p, c) }))
}

pub(super) fn get_parameters(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let names: Vec<&str> = b
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let (found, missing): (Vec<&str>, Vec<&str>) = names
        .iter()
        .partition(|n| w.ssm.get(&c.account, &c.region, n).is_some());
    Ok(json!({
        "Parameters": found.iter().filter_map(|n| w.ssm.get(&c.account, &c.region, n)).map(|p| read_param(p, c)).collect::<Vec<_>>(),
        "InvalidParameters": missing,
    }))
}

pub(super) fn put_parameter(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let b = &c.body;
    let name = s(b, "Name")?.to_string();
    let value = s(b, "Value")?.to_string();
    if name.starts_with("/aws/") || name.starts_with("aws") {
        return Err(ApiError::client(
            "AccessDeniedException",
            "No access to reserved parameter name: aws",
        ));
    }
    let key = format!("{}/{}/{name}", c.account, c.region);
    let overwrite = b.get("Overwrite").and_then(Value::as_bool).unwrap_or(false);
    let version = match w.ssm.parameters.get(&key) {
        Some(_) if !overwrite => {
            return Err(ApiError::client(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
            ));
        }
        Some(p) => p.version + 1,
        None => 1,
    };
    let kind = b
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("String")
        .to_string();
    let data_type = b
        .get("DataType")
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_string();
    w.ssm.parameters.insert(
        key,
        Parameter {
            name,
            value,
            kind,
            data_type,
            version,
            modified_ms: now,
        },
    );
    Ok(json!({ "Version": version, "Tier": "Standard" }))
}

pub(super) fn delete_parameter(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let name = s(b, "Name")?;
    let key = format!("{}/{}/{name}", c.account, c.region);
    w.ssm.parameters.remove(&key).ok_or_else(|| {
        ApiError::client("ParameterNotFound", format!("Parameter {name} not found."))
    })?;
    Ok(json!({}))
}

/// DescribeParameters (API_DescribeParameters): the caller's parameters, without their values,
/// filtered by `ParameterFilters` on `Name` (`Equals`, `BeginsWith`) and `Type`, `MaxResults`
/// (1-50) a page with a `NextToken`.
pub(super) fn describe_parameters(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let max = b.get("MaxResults").and_then(Value::as_u64).unwrap_or(50);
    if !(1..=50).contains(&max) {
        return Err(ApiError::client(
            "ValidationException",
            "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50",
        ));
    }
    let filters: Vec<(String, String, Vec<String>)> = b
        .get("ParameterFilters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let text = |k: &str| {
                f.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let values = crate::members::str_list(f.get("Values"));
            (text("Key"), text("Option"), values)
        })
        .collect();
    let keeps = |p: &Parameter| {
        filters.iter().all(|(key, option, values)| {
            let field = match key.as_str() {
                "Name" => &p.name,
                "Type" => &p.kind,
                _ => return true,
            };
            values.iter().any(|v| match option.as_str() {
                "BeginsWith" => field.starts_with(v.as_str()),
                _ => field == v,
            })
        })
    };
    let prefix = format!("{}/{}/", c.account, c.region);
    let all: Vec<&Parameter> = w
        .ssm
        .parameters
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, p)| p)
        .filter(|p| keeps(p))
        .collect();
    let items: Vec<Value> = all
        .iter()
        .map(|p| {
            json!({ "Name": p.name, "Type": p.kind, "Version": p.version, "DataType": p.data_type, "LastModifiedDate": ts(p.modified_ms) })
        })
        .collect();
    let token = b.get("NextToken").and_then(Value::as_str);
    let (page, next) = crate::members::paginate(items, token, usize::try_from(max).ok())
        .map_err(|m| ApiError::client("InvalidNextToken", m))?;
    let mut out = json!({ "Parameters": page });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}
