//! The targets this binary serves, one line each: a target's rules (its `TargetSpec`, for
//! validation, plans and the schema) and its cloud calls (its `Provider`, for observe and apply).
//! Adding a target is its crates and one line here (docs/ARCHITECTURE.md, "Adding a target").

use std::sync::Arc;
use std::time::Duration;

use recipe_aws::Aws;
use recipe_engine::{Provider, Registry};
use recipe_loader::{TargetSpec, Targets};
use recipe_ssm::Options;

/// Makes a target's provider for an AWS configuration.
type MakeProvider = fn(&Aws, Options) -> Arc<dyn Provider>;

/// Every served target: its spec, and how its provider is made.
fn served() -> Vec<(Arc<dyn TargetSpec>, MakeProvider)> {
    use recipe_provider_appstream::AppstreamProvider;
    use recipe_provider_ec2::Ec2Provider;
    use recipe_provider_workspaces::WorkspacesProvider;
    vec![
        (Arc::new(recipe_targets::Ec2Ami), |aws, o| {
            Arc::new(Ec2Provider::new(aws.clone(), o))
        }),
        (Arc::new(recipe_targets::Workspaces), |aws, o| {
            Arc::new(WorkspacesProvider::new(aws.clone(), o))
        }),
        (Arc::new(recipe_targets::Appstream), |aws, o| {
            Arc::new(AppstreamProvider::new(aws.clone(), o))
        }),
    ]
}

/// The served targets' rules.
pub fn targets() -> Targets {
    Targets::new(served().into_iter().map(|(spec, _)| spec).collect())
}

/// One provider per served target, each polling every `poll`.
pub fn registry(aws: &Aws, poll: Duration) -> Registry {
    let mut registry = Registry::new();
    for (spec, make) in served() {
        let provider = make(aws, Options::every(poll));
        assert_eq!(
            provider.target(),
            spec.target(),
            "a served line pairs a target's spec with another target's provider"
        );
        registry.register(provider);
    }
    registry
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_served_targets_are_the_aws_specs_in_their_order() {
        let served: Vec<_> = super::targets().iter().map(|s| s.target()).collect();
        let specs: Vec<_> = recipe_targets::specs().iter().map(|s| s.target()).collect();
        assert_eq!(served, specs);
    }
}
