//! aws-sim's integration tests: one test binary (the SDK crates are large), with modules.
//!
//! - `conformance`: the same test code, with the real SDK clients, against aws-sim and against moto
//!   (an independent emulator), for the operations both serve.
//! - `fidelity`: what only aws-sim models: pending phases, shares across accounts, deprecation,
//!   preconditions, SSM commands.
//! - `faults`: throttling, 5xx, latency, scripted failures, the request log, the admin API, persistence.
//! - `access`: key pairs, security groups and volumes, on both backends.
//! - `workspaces`: builder WorkSpace lifecycle, image rules, SSM hybrid activations.
//! - `appstream`: image builder rules, the Image Assistant through SSM, copies, fleet updates.
//! - `wire`: the protocols the AWS CLI and boto3 speak where the Rust SDK speaks another.
//! - `hard`: where AWS is hard (registration, AUTO_STOP, pages, networks, quotas, account set-up).
//! - `byol`: VM Import of a Windows 10/11 disk (S3, the vmimport role) and the WorkSpaces BYOL
//!   imports that take only such images, on an account enabled for BYOL.
//! - `kms`: signing keys with real cryptography (CreateKey, GetPublicKey, Sign, Verify).
//! - `clients`: boto3 drives the same, as a second client.

mod access;
mod appstream;
mod byol;
mod clients;
mod common;
mod conformance;
mod faults;
mod fidelity;
mod hard;
mod kms;
mod services;
mod wire;
mod workspaces;
