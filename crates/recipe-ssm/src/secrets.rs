//! Preflight for secrets: every secret a recipe declares exists in its build region, so that a
//! missing one is a finding in the plan, not a step that fails on a builder that has been up for
//! many minutes. Read without values: SSM DescribeParameters (a `Name` `Equals` filter) and Secrets
//! Manager DescribeSecret (`ResourceNotFoundException` when it does not exist, per
//! API_DescribeSecret.html), never GetParameter or GetSecretValue.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use recipe_aws::Aws;
use recipe_loader::LoadedRecipe;
use recipe_model::SecretRef;

/// The recipe's secrets that do not exist (or could not be checked) in `region`, each with its fix.
pub async fn problems(aws: &Aws, r: &LoadedRecipe, region: &str) -> Vec<String> {
    if r.recipe.secrets.is_empty() {
        return Vec::new();
    }
    let config = aws.regional(region);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let mut out = Vec::new();
    for (name, secret) in &r.recipe.secrets {
        let field = format!("secrets.{name}");
        let found = match &secret.value {
            SecretRef::SsmParameter(p) => parameter(&ssm, p, region, &field).await,
            SecretRef::SecretsManager(s) => {
                let got = sm.describe_secret().secret_id(s.as_str()).send().await;
                got.err().map(|e| {
                    let code = e.code().unwrap_or("error").to_string();
                    let message = e.message().unwrap_or_default().to_string();
                    recipe_aws::preflight::finding(
                        &code,
                        &message,
                        "Secrets Manager secret",
                        s,
                        region,
                        &field,
                    )
                })
            }
        };
        out.extend(found);
    }
    out
}

/// A finding if SSM parameter `name` is not in `region`.
async fn parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    region: &str,
    field: &str,
) -> Option<String> {
    let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .ok()?;
    let what = "SSM parameter";
    match ssm
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
    {
        Ok(out) if out.parameters().iter().any(|p| p.name() == Some(name)) => None,
        Ok(_) => Some(recipe_aws::preflight::finding(
            "ParameterNotFound",
            "",
            what,
            name,
            region,
            field,
        )),
        Err(e) => {
            let code = e.code().unwrap_or("error").to_string();
            let message = e.message().unwrap_or_default().to_string();
            Some(recipe_aws::preflight::finding(
                &code, &message, what, name, region, field,
            ))
        }
    }
}
