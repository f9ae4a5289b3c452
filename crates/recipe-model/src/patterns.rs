//! The shapes of AWS identifiers, in one place: `recipe validate` checks them and the JSON Schema
//! carries them, so the editor and the command agree.

/// An AWS account id: 12 digits, written as a quoted string.
pub const ACCOUNT: &str = r"^\d{12}$";

/// An AWS Organizations organization ARN.
pub const ORG_ARN: &str = r"^arn:aws[a-z-]*:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$";

/// An AWS Organizations organizational unit ARN.
pub const OU_ARN: &str =
    r"^arn:aws[a-z-]*:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$";

/// An EC2 Image Builder infrastructure configuration ARN (ImportCustomWorkspaceImage's
/// `InfrastructureConfigurationArn`; EC2 Image Builder API reference, InfrastructureConfigurationArn).
pub const INFRASTRUCTURE_CONFIGURATION_ARN: &str =
    r"^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):infrastructure-configuration/[a-z0-9-_]+$";

/// A region code's shape (the list itself is [`crate::regions::REGIONS`]).
pub const REGION: &str = crate::regions::REGION_PATTERN;
