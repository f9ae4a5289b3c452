//! The WorkSpaces sections of a recipe: `bundle`, `builder.import` and
//! `rollout.rebuild-workspaces`, declared to the language as [`SectionDef`]s and read back typed
//! with their [`SectionKey`]s.

use std::collections::BTreeMap;

use recipe_model::{Node, SectionDef, SectionKey, SectionType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `bundle`.
pub static BUNDLE_SECTION: SectionDef = SectionDef::of::<Bundle>(
    "",
    "bundle",
    "The custom WorkSpaces bundle that wraps the image (target `workspaces`).",
);
/// `builder.import`.
pub static IMPORT_SECTION: SectionDef = SectionDef::of::<WorkspacesImport>(
    "builder",
    "import",
    "How the parent `ec2-ami` recipe's image is imported into WorkSpaces (`workspaces` on a `recipe` base; Windows BYOL only). Without it: ImportWorkspaceImage with `BYOL_REGULAR`.",
);
/// `rollout.rebuild-workspaces`.
pub static REBUILD_SECTION: SectionDef = SectionDef::of::<RebuildWorkspaces>(
    "rollout",
    "rebuild-workspaces",
    "Rebuild WorkSpaces that carry these tags on the new bundle (`workspaces`).",
);

/// A recipe's `bundle`.
pub const BUNDLE_OF: SectionKey<Bundle> = SectionKey::new(&BUNDLE_SECTION);
/// A recipe's `builder.import`.
pub const IMPORT_OF: SectionKey<WorkspacesImport> = SectionKey::new(&IMPORT_SECTION);
/// A recipe's `rollout.rebuild-workspaces`.
pub const REBUILD_OF: SectionKey<RebuildWorkspaces> = SectionKey::new(&REBUILD_SECTION);

impl SectionType for Bundle {
    fn strings_mut(&mut self) -> Vec<&mut Node<String>> {
        let mut out = vec![&mut self.name];
        out.extend(self.description.iter_mut());
        out
    }
}

impl SectionType for WorkspacesImport {}

impl SectionType for RebuildWorkspaces {
    fn strings_mut(&mut self) -> Vec<&mut Node<String>> {
        self.tagged.values_mut().collect()
    }
}

/// `bundle.regions`: region names, as the schema lists them.
fn region_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let regions = serde_json::json!({ "type": "string", "enum": recipe_model::regions::REGIONS });
    schemars::json_schema!({ "type": "array", "items": regions, "examples": [recipe_model::regions_example()] })
}

/// The import of an AMI into WorkSpaces (Bring Your Own License). With
/// `infrastructure-configuration-arn`, ImportCustomWorkspaceImage ingests the AMI through EC2 Image
/// Builder (Windows 10 and 11); without it, ImportWorkspaceImage with `ingestion-process`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkspacesImport {
    /// ImportWorkspaceImage's ingestion process (without `infrastructure-configuration-arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingestion_process: Option<Node<IngestionProcess>>,
    /// The EC2 Image Builder infrastructure configuration that ingests the image: selects
    /// ImportCustomWorkspaceImage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = recipe_model::patterns::INFRASTRUCTURE_CONFIGURATION_ARN),
        example = &"arn:aws:imagebuilder:eu-west-2:111122223333:infrastructure-configuration/ws-import"
    )]
    pub infrastructure_configuration_arn: Option<Node<String>>,
    /// The Windows version of the AMI (ImportCustomWorkspaceImage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<Node<ImportOsVersion>>,
    /// The streaming protocol (ImportCustomWorkspaceImage; Windows 11 does not support PCOIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Node<ImportProtocol>>,
    /// The compute the image supports (ImportCustomWorkspaceImage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<Node<ImportCompute>>,
}

/// ImportWorkspaceImage's `IngestionProcess` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[expect(missing_docs, reason = "the names are AWS's ingestion process names")]
pub enum IngestionProcess {
    ByolRegular,
    ByolRegularWsp,
    ByolRegularByop,
    ByolGraphics,
    ByolGraphicspro,
    #[serde(rename = "BYOL_GRAPHICS_G4DN")]
    ByolGraphicsG4dn,
    #[serde(rename = "BYOL_GRAPHICS_G4DN_WSP")]
    ByolGraphicsG4dnWsp,
    #[serde(rename = "BYOL_GRAPHICS_G4DN_BYOP")]
    ByolGraphicsG4dnByop,
}

impl IngestionProcess {
    /// The API's name for it.
    pub fn api_name(self) -> &'static str {
        match self {
            IngestionProcess::ByolRegular => "BYOL_REGULAR",
            IngestionProcess::ByolRegularWsp => "BYOL_REGULAR_WSP",
            IngestionProcess::ByolRegularByop => "BYOL_REGULAR_BYOP",
            IngestionProcess::ByolGraphics => "BYOL_GRAPHICS",
            IngestionProcess::ByolGraphicspro => "BYOL_GRAPHICSPRO",
            IngestionProcess::ByolGraphicsG4dn => "BYOL_GRAPHICS_G4DN",
            IngestionProcess::ByolGraphicsG4dnWsp => "BYOL_GRAPHICS_G4DN_WSP",
            IngestionProcess::ByolGraphicsG4dnByop => "BYOL_GRAPHICS_G4DN_BYOP",
        }
    }
}

/// ImportCustomWorkspaceImage's `OsVersion` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[expect(missing_docs, reason = "the names are AWS's OS version names")]
pub enum ImportOsVersion {
    #[serde(rename = "Windows_10")]
    Windows10,
    #[serde(rename = "Windows_11")]
    Windows11,
}

/// ImportCustomWorkspaceImage's `Protocol` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[expect(missing_docs, reason = "the names are AWS's protocol names")]
pub enum ImportProtocol {
    Dcv,
    Pcoip,
    Byop,
}

/// ImportCustomWorkspaceImage's `ComputeType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[expect(missing_docs, reason = "the names are AWS's image compute type names")]
pub enum ImportCompute {
    #[serde(rename = "BASE")]
    Base,
    #[serde(rename = "GRAPHICS_G4DN")]
    GraphicsG4dn,
    #[serde(rename = "GRAPHICS_G6")]
    GraphicsG6,
}

/// A custom WorkSpaces bundle that wraps the image.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Bundle {
    /// Bundle name (1-64 characters).
    pub name: Node<String>,
    /// Bundle description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Node<String>>,
    /// Compute type of the bundle.
    pub compute: Node<ComputeType>,
    /// Root volume in GiB. With 80, the user volume may be 10, 50 or 100; with 175, 100 to 2000.
    #[schemars(example = 80)]
    pub root_volume_gib: Node<u32>,
    /// User volume in GiB.
    #[schemars(example = 10)]
    pub user_volume_gib: Node<u32>,
    /// Regions of `distribute.regions` to create the bundle in as well, on the image's copy there.
    /// The bundle is always made in the build region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "region_list")]
    pub regions: Vec<Node<String>>,
    /// Tags on the bundle, over the image's (the tool's `recipe:*` tags, `Name` and `Version`, and
    /// `image.tags`): seed 000's structure applies to images and bundles alike. Recommended keys:
    /// Software, Role, System, Project, CostCenter, Stage, Confidentiality, Compliance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = recipe_model::tags_example())]
    pub tags: BTreeMap<Node<String>, Node<String>>,
}

/// WorkSpaces compute types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[expect(missing_docs, reason = "the names are AWS's compute type names")]
pub enum ComputeType {
    Value,
    Standard,
    Performance,
    Power,
    Powerpro,
    Graphics,
    Graphicspro,
    #[serde(rename = "GRAPHICS_G4DN")]
    GraphicsG4dn,
    #[serde(rename = "GRAPHICSPRO_G4DN")]
    GraphicsproG4dn,
    #[serde(rename = "GENERALPURPOSE_4XLARGE")]
    GeneralPurpose4xlarge,
    #[serde(rename = "GENERALPURPOSE_8XLARGE")]
    GeneralPurpose8xlarge,
}

impl ComputeType {
    /// The name the WorkSpaces API uses (`ComputeType.Name`), as a recipe writes it.
    pub fn api_name(self) -> &'static str {
        match self {
            ComputeType::Value => "VALUE",
            ComputeType::Standard => "STANDARD",
            ComputeType::Performance => "PERFORMANCE",
            ComputeType::Power => "POWER",
            ComputeType::Powerpro => "POWERPRO",
            ComputeType::Graphics => "GRAPHICS",
            ComputeType::Graphicspro => "GRAPHICSPRO",
            ComputeType::GraphicsG4dn => "GRAPHICS_G4DN",
            ComputeType::GraphicsproG4dn => "GRAPHICSPRO_G4DN",
            ComputeType::GeneralPurpose4xlarge => "GENERALPURPOSE_4XLARGE",
            ComputeType::GeneralPurpose8xlarge => "GENERALPURPOSE_8XLARGE",
        }
    }

    /// The GPU bundles (Graphics, GraphicsPro and their G4dn kinds): "You can launch a Graphics or
    /// GraphicsPro WorkSpace with a minimum of 100 GB for the root volume and 100 GB for the user
    /// volume" (WorkSpaces Administration Guide, Modify a WorkSpace).
    pub fn is_graphics(self) -> bool {
        matches!(
            self,
            ComputeType::Graphics
                | ComputeType::Graphicspro
                | ComputeType::GraphicsG4dn
                | ComputeType::GraphicsproG4dn
        )
    }

    /// Whether a bundle of this compute type can have a `root` GiB root and a `user` GiB user
    /// volume. The Administration Guide's groups (Modify a WorkSpace): [80, 10], [80, 50], [80, 100]
    /// and [175 to 2000, 100 to 2000]; GPU bundles start at 100/100, each up to 2000.
    pub fn volumes_allowed(self, root: u32, user: u32) -> bool {
        const MAX: u32 = 2000;
        if self.is_graphics() {
            return (100..=MAX).contains(&root) && (100..=MAX).contains(&user);
        }
        (root == 80 && matches!(user, 10 | 50 | 100))
            || ((175..=MAX).contains(&root) && (100..=MAX).contains(&user))
    }

    /// The smallest root and user volumes (GiB) a bundle of this compute type can have.
    pub fn smallest_volumes(self) -> (u32, u32) {
        if self.is_graphics() {
            (100, 100)
        } else {
            (80, 10)
        }
    }

    /// The sizes [`volumes_allowed`](Self::volumes_allowed) takes, in words.
    pub fn volume_rule(self) -> &'static str {
        if self.is_graphics() {
            "GPU bundles take a root of 100 to 2000 GiB with a user volume of 100 to 2000 GiB"
        } else {
            "use root 80 with user 10, 50 or 100; or root 175 to 2000 with user 100 to 2000"
        }
    }
}

/// Which WorkSpaces to rebuild, and how many at a time.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RebuildWorkspaces {
    /// Tags a WorkSpace must carry to be rebuilt.
    pub tagged: BTreeMap<String, Node<String>>,
    /// WorkSpaces rebuilt at a time (RebuildWorkspaces takes at most 1 per call; the tool batches).
    #[serde(default = "default_batch")]
    #[schemars(range(min = 1, max = 100))]
    pub batch: u32,
}

fn default_batch() -> u32 {
    10
}
