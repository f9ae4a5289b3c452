//! The EC2 provider's tests (one test binary): the coalesced pollers against aws-sim, and one
//! scenario run against both aws-sim and moto with the same code, and resuming on a builder that
//! sysprep already stopped. The end-to-end apply tests live in
//! recipe-cli.

mod conformance;
mod poller;
mod resume;
