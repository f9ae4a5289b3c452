//! SDK clients per region, made once per apply and shared by every action.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;

use crate::config::Aws;

/// One client of a service per region.
pub struct Clients<C> {
    aws: Aws,
    make: fn(&SdkConfig) -> C,
    made: Mutex<HashMap<String, C>>,
}

impl<C: Clone> Clients<C> {
    /// Clients made by `make` (a service's `Client::new`).
    pub fn new(aws: Aws, make: fn(&SdkConfig) -> C) -> Clients<C> {
        Clients {
            aws,
            make,
            made: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `region`.
    pub fn get(&self, region: &str) -> C {
        let mut made = self
            .made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        made.entry(region.to_string())
            .or_insert_with(|| (self.make)(&self.aws.regional(region)))
            .clone()
    }
}
