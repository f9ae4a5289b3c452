//! Visit the strings of a recipe or step, for interpolation and secret scanning.

use recipe_model::{Base, Node, Recipe, Step};

macro_rules! step_texts {
    ($name:ident, $($mut_:tt)?) => {
        /// Every string a step carries that reaches the builder, in field order.
        pub fn $name(step: & $($mut_)? Step) -> Vec<& $($mut_)? Node<String>> {
            let mut out = Vec::new();
            match step {
                Step::Shell(s) => {
                    out.push(& $($mut_)? s.run);
                    out.extend((& $($mut_)? s.env).values_mut_or_ref());
                }
                Step::PowerShell(s) => {
                    out.push(& $($mut_)? s.run);
                    out.extend((& $($mut_)? s.env).values_mut_or_ref());
                }
                Step::Script(s) => {
                    out.push(& $($mut_)? s.path);
                    out.extend((& $($mut_)? s.args).iter_mut_or_ref());
                    out.extend((& $($mut_)? s.env).values_mut_or_ref());
                }
                Step::File(s) => {
                    out.push(& $($mut_)? s.src);
                    out.push(& $($mut_)? s.dest);
                    out.extend((& $($mut_)? s.owner).iter_mut_or_ref());
                }
                Step::Packages(s) => {
                    out.extend((& $($mut_)? s.install).iter_mut_or_ref());
                    out.extend((& $($mut_)? s.remove).iter_mut_or_ref());
                }
                Step::UpdateOs(s) => out.extend((& $($mut_)? s.exclude).iter_mut_or_ref()),
                Step::Download(s) => {
                    out.push(& $($mut_)? s.url);
                    out.push(& $($mut_)? s.dest);
                    out.push(& $($mut_)? s.sha256);
                }
                Step::Reboot(_) | Step::Sysprep(_) => {}
                Step::Include(p) => out.push(p),
                Step::App(s) => {
                    out.push(& $($mut_)? s.path);
                    out.extend((& $($mut_)? s.display_name).iter_mut_or_ref());
                    out.extend((& $($mut_)? s.launch_parameters).iter_mut_or_ref());
                    out.extend((& $($mut_)? s.working_directory).iter_mut_or_ref());
                    out.extend((& $($mut_)? s.icon_path).iter_mut_or_ref());
                }
                Step::Manual(s) => out.push(& $($mut_)? s.instructions),
            }
            out
        }
    };
}

/// `iter()` or `iter_mut()` under one name, so one macro body serves both walkers.
trait IterEither<'a, T: 'a> {
    fn iter_mut_or_ref(self) -> impl Iterator<Item = T>;
}

impl<'a, T> IterEither<'a, &'a T> for &'a Vec<T> {
    fn iter_mut_or_ref(self) -> impl Iterator<Item = &'a T> {
        self.iter()
    }
}
impl<'a, T> IterEither<'a, &'a mut T> for &'a mut Vec<T> {
    fn iter_mut_or_ref(self) -> impl Iterator<Item = &'a mut T> {
        self.iter_mut()
    }
}
impl<'a, T> IterEither<'a, &'a T> for &'a Option<T> {
    fn iter_mut_or_ref(self) -> impl Iterator<Item = &'a T> {
        self.iter()
    }
}
impl<'a, T> IterEither<'a, &'a mut T> for &'a mut Option<T> {
    fn iter_mut_or_ref(self) -> impl Iterator<Item = &'a mut T> {
        self.iter_mut()
    }
}

trait ValuesEither<'a, T: 'a> {
    fn values_mut_or_ref(self) -> impl Iterator<Item = T>;
}
impl<'a, K, V> ValuesEither<'a, &'a V> for &'a std::collections::BTreeMap<K, V> {
    fn values_mut_or_ref(self) -> impl Iterator<Item = &'a V> {
        self.values()
    }
}
impl<'a, K, V> ValuesEither<'a, &'a mut V> for &'a mut std::collections::BTreeMap<K, V> {
    fn values_mut_or_ref(self) -> impl Iterator<Item = &'a mut V> {
        self.values_mut()
    }
}

step_texts!(step_texts,);
step_texts!(step_texts_mut, mut);

/// The recipe-level strings that take `${…}` interpolation (steps are handled when expanded).
pub(crate) fn recipe_texts_mut(r: &mut Recipe) -> Vec<&mut Node<String>> {
    let mut out: Vec<&mut Node<String>> = Vec::new();
    out.extend(r.description.iter_mut());
    match &mut r.base.value {
        Base::AmiFilter(f) => {
            out.extend(f.filters.values_mut());
            out.extend(f.owners.iter_mut());
        }
        other => out.extend(other.single_mut()),
    }
    let b = &mut r.builder;
    out.extend(b.region.iter_mut());
    out.extend(b.instance_type.iter_mut());
    out.extend(b.subnet_id.iter_mut());
    out.extend(b.security_group_ids.iter_mut());
    out.extend(b.instance_profile.iter_mut());
    out.extend(b.iam_role_arn.iter_mut());
    out.extend(b.directory_id.iter_mut());
    out.extend(b.user_name.iter_mut());
    out.extend(b.sections.strings_mut());
    out.push(&mut r.image.name);
    out.extend(r.image.description.iter_mut());
    out.extend(r.image.display_name.iter_mut());
    out.extend(r.image.tags.values_mut());
    if let Some(d) = &mut r.distribute {
        out.extend(d.regions.iter_mut());
        out.extend(d.kms_keys.values_mut());
        out.extend(d.share.organizations.iter_mut());
        out.extend(d.share.organizational_units.iter_mut());
    }
    out.extend(r.sections.strings_mut());
    if let Some(rollout) = &mut r.rollout {
        let ro = &mut rollout.value;
        out.extend(ro.launch_templates.iter_mut());
        out.extend(ro.ssm_parameter.iter_mut());
        out.extend(ro.fleets.iter_mut());
        out.extend(ro.sections.strings_mut());
    }
    out
}
