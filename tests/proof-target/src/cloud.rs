//! The kiosk target's cloud: builders and images in memory, as a provider would see a service.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A captured kiosk image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KioskImage {
    /// Its name.
    pub name: String,
    /// The region it is in.
    pub region: String,
    /// The recipe that made it (its tag).
    pub recipe: String,
    /// What ran on the builder it was captured from, in order.
    pub ran: Vec<String>,
}

#[derive(Clone, Debug)]
struct Builder {
    recipe: String,
    running: bool,
    ran: Vec<String>,
}

#[derive(Default)]
struct World {
    next: u32,
    builders: BTreeMap<String, Builder>,
    images: BTreeMap<String, KioskImage>,
}

/// The fake cloud a [`crate::KioskProvider`] talks to.
#[derive(Default)]
pub struct FakeCloud {
    world: Mutex<World>,
}

/// Why a call to the fake cloud failed.
#[derive(Debug, PartialEq, Eq)]
pub struct NotFound(pub String);

impl FakeCloud {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(w: &mut World, prefix: &str) -> String {
        w.next += 1;
        format!("{prefix}-{:08x}", w.next)
    }

    /// Start a builder for `recipe` from image `base` (any id: bases outside the cloud are public).
    pub fn launch(&self, recipe: &str, base: &str) -> String {
        let mut w = self.world();
        let id = Self::id(&mut w, "kb");
        let ran = vec![format!("boot {base}")];
        let b = Builder {
            recipe: recipe.into(),
            running: true,
            ran,
        };
        w.builders.insert(id.clone(), b);
        id
    }

    /// Run `what` on a running builder.
    pub fn run(&self, builder: &str, what: &str) -> Result<(), NotFound> {
        let mut w = self.world();
        let b = w.builders.get_mut(builder).filter(|b| b.running);
        let b = b.ok_or_else(|| NotFound(format!("no running builder {builder}")))?;
        b.ran.push(what.to_string());
        Ok(())
    }

    /// Capture a running builder's disk as an image named `name` in `region`.
    pub fn capture(&self, builder: &str, name: &str, region: &str) -> Result<String, NotFound> {
        let mut w = self.world();
        let b = w.builders.get(builder).filter(|b| b.running).cloned();
        let b = b.ok_or_else(|| NotFound(format!("no running builder {builder}")))?;
        let id = Self::id(&mut w, "kio");
        let image = KioskImage {
            name: name.into(),
            region: region.into(),
            recipe: b.recipe,
            ran: b.ran,
        };
        w.images.insert(id.clone(), image);
        Ok(id)
    }

    /// Copy an image to `region`.
    pub fn copy(&self, image: &str, region: &str) -> Result<String, NotFound> {
        let mut w = self.world();
        let from = w.images.get(image).cloned();
        let from = from.ok_or_else(|| NotFound(format!("no image {image}")))?;
        let id = Self::id(&mut w, "kio");
        w.images.insert(
            id.clone(),
            KioskImage {
                region: region.into(),
                ..from
            },
        );
        Ok(id)
    }

    /// Stop a builder (a builder already stopped, or gone, counts as stopped).
    pub fn terminate(&self, builder: &str) {
        if let Some(b) = self.world().builders.get_mut(builder) {
            b.running = false;
        }
    }

    /// Delete an image (gone already counts).
    pub fn delete_image(&self, image: &str) {
        self.world().images.remove(image);
    }

    /// The builders still running, with their recipes.
    pub fn running(&self) -> Vec<(String, String)> {
        let w = self.world();
        let running = w.builders.iter().filter(|(_, b)| b.running);
        running
            .map(|(id, b)| (id.clone(), b.recipe.clone()))
            .collect()
    }

    /// Every image, by id.
    pub fn images(&self) -> BTreeMap<String, KioskImage> {
        self.world().images.clone()
    }
}
