//! The shared AWS layer: the region chain as the AWS CLI resolves it, profiles, the account through
//! STS (against aws-sim), and SDK errors shown with their context.

use std::collections::HashMap;

use aws_types::os_shim_internal::{Env, Fs};
use recipe_aws::{Aws, AwsOptions, Credentials, ErrorClass};

const CONFIG: &str = "[default]\nregion = us-west-2\n\n[profile dev]\nregion = ap-southeast-2\n\n[profile bare]\noutput = json\n";

fn fs() -> Fs {
    Fs::from_map(HashMap::from([(
        "/home/me/.aws/config".to_string(),
        CONFIG.as_bytes().to_vec(),
    )]))
}

async fn resolve(opts: AwsOptions, vars: &[(&str, &str)]) -> Result<Aws, recipe_aws::AwsError> {
    let mut all = vec![("HOME", "/home/me")];
    all.extend_from_slice(vars);
    Aws::load_with(&opts, &Env::from_slice(&all), &fs()).await
}

fn region_of(aws: &Aws) -> (String, String) {
    let r = aws.region.clone().expect("a region");
    (r.name, r.source)
}

#[tokio::test]
async fn the_region_comes_from_the_standard_chain_in_order() {
    let flag = AwsOptions {
        region: Some("eu-north-1".into()),
        ..Default::default()
    };
    let env = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "eu-west-3"),
    ];
    let aws = resolve(flag, &env).await.unwrap();
    assert_eq!(region_of(&aws), ("eu-north-1".into(), "--region".into()));
    let aws = resolve(AwsOptions::default(), &env).await.unwrap();
    assert_eq!(region_of(&aws), ("eu-west-1".into(), "AWS_REGION".into()));
    let aws = resolve(AwsOptions::default(), &env[1..]).await.unwrap();
    assert_eq!(
        region_of(&aws),
        ("eu-west-3".into(), "AWS_DEFAULT_REGION".into())
    );
    assert_eq!(aws.sdk.region().unwrap().as_ref(), "eu-west-3");
    // Nothing in the environment: the default profile's region.
    let aws = resolve(AwsOptions::default(), &[]).await.unwrap();
    assert_eq!(
        region_of(&aws),
        ("us-west-2".into(), "profile default".into())
    );
}

#[tokio::test]
async fn a_profile_named_by_flag_or_environment_gives_its_region() {
    let dev = AwsOptions {
        profile: Some("dev".into()),
        ..Default::default()
    };
    let aws = resolve(dev, &[]).await.unwrap();
    assert_eq!(
        region_of(&aws),
        ("ap-southeast-2".into(), "profile dev".into())
    );
    assert_eq!(aws.profile, "dev");
    let aws = resolve(AwsOptions::default(), &[("AWS_PROFILE", "dev")])
        .await
        .unwrap();
    assert_eq!(aws.region.unwrap().name, "ap-southeast-2");
    // The flag wins over AWS_PROFILE; a profile without a region gives none.
    let bare = AwsOptions {
        profile: Some("bare".into()),
        ..Default::default()
    };
    let aws = resolve(bare, &[("AWS_PROFILE", "dev")]).await.unwrap();
    assert!(aws.region.is_none());
    let e = aws.region().unwrap_err();
    assert!(e.help.clone().unwrap().contains("profile `bare`"));
}

#[tokio::test]
async fn a_profile_that_is_not_defined_is_named() {
    let opts = AwsOptions {
        profile: Some("prod".into()),
        ..Default::default()
    };
    let e = resolve(opts, &[]).await.unwrap_err();
    assert_eq!(e.message, "the AWS profile `prod` is not defined");
    let help = e.help.clone().unwrap();
    assert!(
        help.contains("bare, default, dev") || help.contains("default"),
        "{help}"
    );
    let e = resolve(AwsOptions::default(), &[("AWS_PROFILE", "staging")])
        .await
        .unwrap_err();
    assert!(e.message.contains("`staging`"));
}

async fn sim() -> aws_sim::Sim {
    aws_sim::Sim::start(aws_sim::Config::default())
        .await
        .unwrap()
}

fn sim_options(sim: &aws_sim::Sim, key: &str) -> AwsOptions {
    AwsOptions {
        endpoint_url: Some(sim.url().to_string()),
        credentials: Some(Credentials::new(key, "secret", None, None, "test")),
        region: Some("eu-west-2".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_comes_from_sts() {
    let sim = sim().await;
    let aws = Aws::load(&sim_options(&sim, "210987654321")).await.unwrap();
    assert_eq!(aws.account("eu-west-2").await.unwrap(), "210987654321");
    let aws = Aws::load(&sim_options(&sim, "AKIDEXAMPLE")).await.unwrap();
    assert_eq!(
        aws.account("eu-west-2").await.unwrap(),
        aws_sim::DEFAULT_ACCOUNT
    );
    // Served over awsQuery: counted as an STS call.
    assert_eq!(sim.requests().count("sts:GetCallerIdentity"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_errors_carry_service_operation_code_and_request_id() {
    let sim = sim().await;
    sim.set_faults(aws_sim::Faults {
        scripted: vec![aws_sim::ScriptedFault {
            operation: "sts:GetCallerIdentity".into(),
            nth: 1,
            status: 403,
            code: "InvalidClientTokenId".into(),
            message: "The security token included in the request is invalid.".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let aws = Aws::load(&sim_options(&sim, "AKIDEXAMPLE")).await.unwrap();
    let e = aws.account("eu-west-2").await.unwrap_err();
    assert_eq!(e.kind, ErrorClass::Credentials);
    assert_eq!(e.code.as_deref(), Some("InvalidClientTokenId"));
    assert!(e.request_id.is_some(), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with("sts GetCallerIdentity failed: InvalidClientTokenId: The security token"),
        "{shown}"
    );
    assert!(!shown.contains("ServiceError {"), "no debug dumps: {shown}");
    assert!(e.help.clone().unwrap().contains("check the credentials"));
    // An unreachable endpoint is transient, with help about the endpoint, not the credentials.
    let mut opts = sim_options(&sim, "AKIDEXAMPLE");
    opts.endpoint_url = Some("http://127.0.0.1:9".into());
    let aws = Aws::load(&opts).await.unwrap();
    let e = aws.account("eu-west-2").await.unwrap_err();
    assert_eq!(e.kind, ErrorClass::Transient, "{e}");
    assert!(e.help.clone().unwrap().contains("endpoint"));
}
