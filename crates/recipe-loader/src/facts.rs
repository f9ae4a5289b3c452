//! What is known about a base image without asking the cloud: the agents AWS documents as
//! preinstalled on its public images. `recipe lint` uses it, so a recipe is not told to install what
//! its base already ships.
//!
//! Source: AWS Systems Manager User Guide, "Find AMIs with the SSM Agent preinstalled"
//! (<https://docs.aws.amazon.com/systems-manager/latest/userguide/ami-preinstalled-agent.html>): Amazon
//! Linux 2, Amazon Linux 2023, Ubuntu Server 16.04 and later, and the Windows Server AMIs AWS
//! publishes all carry the SSM Agent.

use recipe_model::Base;

/// The SSM Agent: a configuration-management and security-posture agent for `recipe lint`.
const SSM_AGENT: &[&str] = &["amazon-ssm-agent"];

/// Public SSM parameter prefixes of AMIs AWS publishes with the SSM Agent.
const SSM_PARAMETERS: &[&str] = &[
    "/aws/service/ami-amazon-linux-latest/al2023-",
    "/aws/service/ami-amazon-linux-latest/amzn2-",
    "/aws/service/ami-windows-latest/",
    "/aws/service/canonical/ubuntu/",
];

/// AMI name patterns (as `ami-filter` names them, owned by `amazon`) with the SSM Agent.
const AMI_NAMES: &[&str] = &["al2023-ami-", "amzn2-ami-", "Windows_Server-"];

/// The agents the base image ships, as `recipe lint` names them (empty when not known).
pub fn base_agents(base: &Base) -> &'static [&'static str] {
    let ships = match base {
        Base::SsmParameter(p) => SSM_PARAMETERS.iter().any(|pre| p.value.starts_with(pre)),
        Base::AmiFilter(f) => {
            let amazon = f.owners.iter().any(|o| o.value == "amazon");
            let name = f.filters.get("name").map_or("", |n| n.value.as_str());
            amazon && AMI_NAMES.iter().any(|pre| name.starts_with(pre))
        }
        _ => false,
    };
    if ships { SSM_AGENT } else { &[] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recipe_model::Node;

    #[test]
    fn amazon_linux_and_windows_bases_ship_the_ssm_agent() {
        let param = |p: &str| Base::SsmParameter(Node::new(p.to_string(), Default::default()));
        assert_eq!(
            base_agents(&param(
                "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
            )),
            SSM_AGENT
        );
        assert_eq!(
            base_agents(&param(
                "/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base"
            )),
            SSM_AGENT
        );
        assert!(
            base_agents(&param("/aws/service/debian/release/bookworm/latest/amd64")).is_empty()
        );
        assert!(base_agents(&param("/images/web/latest")).is_empty());
    }
}
