//! AWS-RunPowerShellScript commands on Windows machines, run through the model in `windows.rs`:
//! which machine a target is, the files it starts with, and what the command does to it.

use std::collections::BTreeSet;

use crate::windows::{self, Cloud, Effect, Ran};
use crate::world::World;

/// The registration the SSM Agent keeps on a Windows managed node
/// (`%ProgramData%\Amazon\SSM\InstanceData\`: the agent's `appconfig` constants for Windows, and
/// "Install SSM Agent for a hybrid and multicloud environment (Windows)").
pub const REGISTRATION: &str = "c:\\programdata\\amazon\\ssm\\instancedata\\registration";

use crate::windows::UPDATE_SERVICE_OFF;

/// The cloud a machine of `account` in `region` sees.
struct Account<'a> {
    w: &'a World,
    account: &'a str,
    region: &'a str,
}

impl Cloud for Account<'_> {
    fn parameter(&self, name: &str) -> bool {
        let key = crate::members::scoped(self.account, self.region, name);
        self.w.ssm.parameters.contains_key(&key)
    }

    fn secret(&self, id: &str) -> bool {
        crate::secrets::readable(self.w, self.account, self.region, id)
    }
}

/// The Windows machine a command target is (an instance, or the WorkSpace or builder behind a
/// managed node), with its files when first seen.
fn machine(w: &mut World, target: &str) -> Option<String> {
    if let Some(i) = w
        .ec2
        .instances
        .get(target)
        .filter(|i| i.platform == "Windows")
    {
        let key = i.id.clone();
        if !w.windows.contains_key(&key) {
            let disk = w.windows.get(&i.image_id).cloned().unwrap_or_else(|| {
                let name = w.ec2.images.get(&i.image_id).map(|m| m.name.clone());
                windows::launch_agent_files(&name.unwrap_or_default())
                    .into_iter()
                    .collect()
            });
            w.windows.insert(key.clone(), disk);
        }
        return Some(key);
    }
    let node = w
        .ssm
        .nodes
        .get(target)
        .filter(|n| n.platform == "Windows")?;
    let key = [&node.workspace_id, &node.image_builder]
        .into_iter()
        .find(|k| !k.is_empty())?
        .clone();
    let appstream = !node.image_builder.is_empty();
    w.windows.entry(key.clone()).or_insert_with(|| {
        let mut disk = BTreeSet::from([REGISTRATION.to_string()]);
        if appstream {
            disk.insert(UPDATE_SERVICE_OFF.to_string());
        }
        disk
    });
    Some(key)
}

/// Run `script` on `target` if it is a Windows machine; what it did.
pub fn run(w: &mut World, account: &str, region: &str, target: &str, script: &str) -> Option<Ran> {
    let key = machine(w, target)?;
    let mut disk = w.windows.remove(&key).unwrap_or_default();
    let ran = windows::run(script, &mut disk, &Account { w, account, region });
    w.windows.insert(key.clone(), disk);
    Some(ran)
}

/// A machine the command shut down stops, as an instance stopped from inside does.
pub fn settle(w: &mut World, target: &str, ran: &Ran, now: u64, d: &crate::clock::Durations) {
    if ran.effect != Effect::Shutdown {
        return;
    }
    if let Some(i) = w.ec2.instances.get_mut(target)
        && i.state == "running"
    {
        i.state = "stopping".into();
        i.next_at = now + d.instance_stop_ms;
        i.running_since = None;
    }
}

/// An AppStream image captured on `builder` keeps the builder's files (so whether it carries the
/// agent's registration), under the image's `account/region/name`.
pub fn capture(w: &mut World, builder: &str, image: &str) {
    if let Some(disk) = w.windows.get(builder).cloned() {
        w.windows.insert(image.to_string(), disk);
    }
}
