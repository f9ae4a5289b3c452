//! SDK clients per service and region, made once per command and shared by every action.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;

use crate::config::Aws;

/// One client of each service per region, made on first use.
pub struct Clients {
    aws: Aws,
    made: Mutex<HashMap<(TypeId, String), Box<dyn Any + Send>>>,
}

impl Clients {
    /// Clients of this AWS configuration.
    pub fn new(aws: Aws) -> Clients {
        Clients {
            aws,
            made: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `region` of the service whose `Client::new` is `make`.
    pub fn get<C: Clone + Send + 'static>(&self, region: &str, make: fn(&SdkConfig) -> C) -> C {
        let mut made = self
            .made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (TypeId::of::<C>(), region.to_string());
        let client = made
            .entry(key)
            .or_insert_with(|| Box::new(make(&self.aws.regional(region))));
        client
            .downcast_ref::<C>()
            .expect("a client is kept under its own type")
            .clone()
    }
}
