//! The SBOM of an image version, in CycloneDX 1.5 JSON (written by the `cyclonedx-bom` crate): the
//! operating system's packages with their exact versions and package URLs, and the files the
//! recipe itself placed, with their SHA-256.

use std::collections::BTreeMap;

use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::metadata::Metadata;

use crate::Error;

/// An installed operating-system package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    /// Its name (`nginx`).
    pub name: String,
    /// Its exact version, epoch included (`1:2.36.1-8+deb12u1`).
    pub version: String,
    /// Its architecture (`amd64`, `all`).
    pub arch: String,
}

/// A file a recipe step placed (`file`, `download`), by its path in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedFile {
    /// Where it is in the image.
    pub path: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The packages a dpkg database lists (the text of `<root>/var/lib/dpkg/status`), as
/// `dpkg-query -W` does: every package whose status is not `not-installed`.
pub fn dpkg_packages(status: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for paragraph in status.split("\n\n") {
        let fields: BTreeMap<&str, &str> = paragraph
            .lines()
            .filter(|l| !l.starts_with([' ', '\t']))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let installed = fields
            .get("Status")
            .is_some_and(|s| !s.ends_with("not-installed"));
        if let (true, Some(name), Some(version)) =
            (installed, fields.get("Package"), fields.get("Version"))
        {
            let arch = fields.get("Architecture").copied().unwrap_or("all");
            out.push(Package {
                name: (*name).into(),
                version: (*version).into(),
                arch: arch.into(),
            });
        }
    }
    out.sort();
    out
}

/// `pkg:deb/<distro>/<name>@<version>?arch=<arch>`, the Package URL of a Debian package.
pub fn deb_purl(distro: &str, p: &Package) -> Result<String, Error> {
    let purl = purl::GenericPurlBuilder::<String>::new("deb".to_string(), &p.name)
        .with_namespace(distro)
        .with_version(&p.version)
        .with_qualifier("arch", &p.arch)
        .map_err(|e| Error::Sbom(format!("{}: {e}", p.name)))?
        .build()
        .map_err(|e| Error::Sbom(format!("{}: {e}", p.name)))?;
    Ok(purl.to_string())
}

/// The CycloneDX 1.5 JSON of an image (`image`, its name and version): `packages` of `distro`,
/// and the `files` the recipe placed.
pub fn cyclonedx(
    (image, version): (&str, &str),
    distro: &str,
    packages: &[Package],
    files: &[PlacedFile],
) -> Result<String, Error> {
    let mut components = Vec::with_capacity(packages.len() + files.len());
    for p in packages {
        let purl = deb_purl(distro, p)?;
        let mut c = Component::new(
            Classification::Library,
            &p.name,
            &p.version,
            Some(purl.clone()),
        );
        c.purl = Some(purl.parse().map_err(|()| Error::Sbom(purl.clone()))?);
        components.push(c);
    }
    for f in files {
        let mut c = Component::new(
            Classification::File,
            &f.path,
            "",
            Some(format!("file:{}", f.path)),
        );
        c.version = None;
        c.hashes = Some(Hashes(vec![Hash {
            alg: HashAlgorithm::SHA_256,
            content: HashValue(f.sha256.clone()),
        }]));
        components.push(c);
    }
    let subject = Component::new(Classification::OperatingSystem, image, version, None);
    let bom = Bom {
        metadata: Some(Metadata {
            component: Some(subject),
            ..Metadata::default()
        }),
        components: Some(Components(components)),
        spec_version: SpecVersion::V1_5,
        ..Bom::default()
    };
    let mut out = Vec::new();
    bom.output_as_json(&mut out, SpecVersion::V1_5)
        .map_err(|e| Error::Sbom(e.to_string()))?;
    String::from_utf8(out).map_err(|e| Error::Sbom(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library\n shared libraries\n\nPackage: gone\nStatus: purge ok not-installed\nArchitecture: amd64\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n\nPackage: bsdutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.38.1-5+deb12u1\n";

    #[test]
    fn installed_packages_are_read_with_their_versions_and_purls() {
        let p = dpkg_packages(STATUS);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["bsdutils", "libc6", "tzdata"],
            "not-installed is left out"
        );
        let purl = deb_purl("debian", &p[0]).unwrap();
        assert_eq!(
            purl,
            "pkg:deb/debian/bsdutils@1:2.38.1-5+deb12u1?arch=amd64"
        );
    }

    #[test]
    fn the_sbom_is_cyclonedx_1_5_with_packages_and_placed_files() {
        let files = [PlacedFile {
            path: "/etc/nginx/nginx.conf".into(),
            sha256: "ab".repeat(32),
        }];
        let json = cyclonedx(("web", "1.0.0"), "debian", &dpkg_packages(STATUS), &files).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["bomFormat"], "CycloneDX");
        assert_eq!(v["specVersion"], "1.5");
        let comps = v["components"].as_array().unwrap();
        assert_eq!(comps.len(), 4);
        assert_eq!(comps[1]["version"], "2.36-9+deb12u4");
        assert_eq!(comps[3]["type"], "file");
        assert_eq!(comps[3]["hashes"][0]["alg"], "SHA-256");
    }
}
