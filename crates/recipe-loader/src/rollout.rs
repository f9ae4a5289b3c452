//! Rollouts as a target describes them: what a new image version is rolled out to, where, and in
//! which order. The planner schedules them without knowing any target's kinds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A kind of rollout target (`fleet`, `launch-template`, …): declared by the target that has it,
/// with the words a plan uses for it ("launch template"). Cheap to copy and compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RolloutKind(&'static str);

/// Declared kinds' words, by name.
static WORDS: Mutex<BTreeMap<&'static str, &'static str>> = Mutex::new(BTreeMap::new());
/// Names read from plans and observations, interned once each.
static READ: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
/// How many undeclared names are kept; past that, a name reads as [`RolloutKind::UNKNOWN`].
const MAX_READ: usize = 256;

impl RolloutKind {
    /// What an undeclared name reads as once [`MAX_READ`] were seen.
    pub const UNKNOWN: RolloutKind = RolloutKind("<unknown>");

    /// A kind with a fixed name: how a target's crate names it.
    pub const fn new(name: &'static str) -> RolloutKind {
        RolloutKind(name)
    }

    /// Make `kind` known, with the words plans use for it.
    pub fn declare(kind: RolloutKind, words: &'static str) {
        let mut declared = WORDS.lock().unwrap_or_else(PoisonError::into_inner);
        declared.insert(kind.0, words);
    }

    /// The kind a plan or an observation names.
    pub fn named(name: &str) -> RolloutKind {
        if let Some((known, _)) = lock(&WORDS).get_key_value(name) {
            return RolloutKind(known);
        }
        recipe_model::intern(&READ, name, MAX_READ).map_or(RolloutKind::UNKNOWN, RolloutKind)
    }

    /// The name, as plans write it.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The words plans use for it (its name when no target declared it).
    pub fn words(&self) -> &'static str {
        lock(&WORDS).get(self.0).copied().unwrap_or(self.0)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for RolloutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RolloutKind({})", self.0)
    }
}

impl Serialize for RolloutKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for RolloutKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RolloutKind::named(&String::deserialize(d)?))
    }
}

/// When a rollout runs, relative to the image and to the recipe's other rollouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutOrder {
    /// As soon as the image is in its region; every other rollout waits for the first ones (a
    /// WorkSpaces bundle: WorkSpaces launch from it).
    First,
    /// Once the first ones are done and the image is in its region (each copy has its own id).
    InRegion,
    /// After the chained one before it is healthy; the first after the first ones (fleets, staging
    /// first).
    Chained,
    /// Once the first ones are done.
    AfterFirst,
}

/// What a rollout does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutAction {
    /// Point a target at the new image, creating it when missing.
    Point {
        /// Its kind.
        kind: RolloutKind,
        /// Its name.
        name: String,
        /// What the plan adds when the target was observed missing ("it is created …").
        missing: Option<&'static str>,
    },
    /// Rebuild the machines launched from the earlier image that carry every tag in `tagged`,
    /// `batch` at a time.
    Rebuild {
        /// The machines, as the plan names them ("WorkSpaces").
        machines: &'static str,
        /// Tags a machine must carry, key to value.
        tagged: BTreeMap<String, String>,
        /// How many at a time.
        batch: u32,
    },
}

/// One rollout action of a new version, as the recipe's target asks for it. A spec lists them in
/// the order the plan adds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutStep {
    /// What it does.
    pub action: RolloutAction,
    /// The region whose image it takes.
    pub region: String,
    /// When.
    pub order: RolloutOrder,
    /// Why, as the plan says it. With a count of the machines a rebuild finds (`{n}`), `counted`
    /// says it instead.
    pub why: String,
    /// The reason when the planner's observations counted the machines: `{n}` is the count.
    pub counted: Option<String>,
}
