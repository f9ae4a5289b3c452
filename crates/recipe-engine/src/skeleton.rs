//! The scaffolding every provider crate would otherwise write again, as two macros:
//!
//! - [`delegate_provider!`](crate::delegate_provider): the [`Provider`](crate::Provider) methods
//!   that only hand the work to the crate's modules (`observe`, `run`, `sweep`, `release`,
//!   `discard`), each a function taking the provider first;
//! - [`action_context!`](crate::action_context): the per-action `Act`, holding the action's
//!   [`ActionScope`](crate::ActionScope) and the target's clients for its build region, dereferencing
//!   to the scope, the `run` function that builds it, and `dispatch`, which hands each action kind
//!   to the `Act` method of the one layout.
//!
//! What differs between targets (`target`, `lane`, `limit`, and what each `Act` method does) stays
//! written out in each crate.

#[doc(hidden)]
pub mod reexport {
    pub use recipe_loader::LoadedRecipe;
    pub use recipe_model::Target;
    pub use recipe_plan::{Observations, ObserveError};
    pub use recipe_state::RecipeState;
}

/// The [`Provider`](crate::Provider) methods that delegate to functions of the provider's crate,
/// inside `impl Provider for …`. Each function takes the provider first, then the method's
/// arguments, and returns a future of the method's result:
///
/// ```ignore
/// impl Provider for MyProvider {
///     fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane { … }
///     recipe_engine::delegate_provider! {
///         target: MY_TARGET,
///         observe: observe::observe,
///         run: actions::run,
///         sweep: [sweep::sweep],
///         release: builder::release_one,
///         discard: image::delete_image,
///     }
/// }
/// ```
///
/// `sweep: [by_recipe(builders, images)]` sweeps through [`SweepRequest::by_recipe`](crate::SweepRequest::by_recipe):
/// `builders(provider, cx, recipe, request, log)` for each recipe, then
/// `images(provider, SweepAt { recipe, region, request, log })` in each of its regions.
///
/// With the target alone (`delegate_provider!(MY_TARGET)`) it uses the one module layout: `observe::observe`, `actions::run`,
/// `by_recipe(sweep::builders, sweep::images)`, `builder::release_one`, `image::delete_image`.
/// `discard` takes the provider, the image's region and its id (an image already gone counts as
/// removed).
#[macro_export]
macro_rules! delegate_provider {
    ($target:expr) => {
        $crate::delegate_provider! {
            target: $target,
            observe: observe::observe,
            run: actions::run,
            sweep: [by_recipe(sweep::builders, sweep::images)],
            release: builder::release_one,
            discard: image::delete_image,
        }
    };
    (@common $target:expr, $observe:path, $run:path, $release:path, $discard:path) => {
        fn target(&self) -> $crate::skeleton::reexport::Target {
            $target
        }

        fn observe<'a>(
            &'a self,
            recipes: &'a [&'a $crate::skeleton::reexport::LoadedRecipe],
            state: &'a ::std::collections::BTreeMap<
                ::std::string::String,
                $crate::skeleton::reexport::RecipeState,
            >,
        ) -> $crate::BoxFuture<
            'a,
            ::std::result::Result<
                $crate::skeleton::reexport::Observations,
                $crate::skeleton::reexport::ObserveError,
            >,
        > {
            ::std::boxed::Box::pin($observe(self, recipes, state))
        }

        fn run<'a>(
            &'a self,
            cx: &'a $crate::ApplyContext,
            action: &'a $crate::Action,
            inputs: &'a $crate::Outputs,
        ) -> $crate::BoxFuture<'a, ::std::result::Result<$crate::RecipeOutputs, $crate::ActionError>>
        {
            ::std::boxed::Box::pin($run(self, cx, action, inputs))
        }

        fn release<'a>(
            &'a self,
            cx: &'a $crate::ApplyContext,
            leftover: &'a $crate::Leftover,
            keep: bool,
        ) -> $crate::BoxFuture<'a, $crate::Released> {
            ::std::boxed::Box::pin($release(self, cx, leftover, keep))
        }

        fn discard<'a>(
            &'a self,
            cx: &'a $crate::ApplyContext,
            image: &'a $crate::Unfinished,
        ) -> $crate::BoxFuture<'a, ::std::result::Result<(), $crate::ActionError>> {
            let _ = cx;
            ::std::boxed::Box::pin($discard(self, &image.region, &image.image))
        }
    };
    (
        target: $target:expr,
        observe: $observe:path,
        run: $run:path,
        sweep: [$($sweep:tt)+],
        release: $release:path,
        discard: $discard:path $(,)?
    ) => {
        $crate::delegate_provider!(@common $target, $observe, $run, $release, $discard);

        fn sweep<'a>(
            &'a self,
            cx: &'a $crate::ApplyContext,
            request: &'a $crate::SweepRequest,
        ) -> $crate::BoxFuture<'a, $crate::Swept> {
            ::std::boxed::Box::pin($crate::delegate_provider!(@sweep self, cx, request, $($sweep)+))
        }
    };
    (@sweep $p:ident, $cx:ident, $req:ident, by_recipe($builders:path, $images:path)) => {
        $req.by_recipe(
            move |recipe, log| async move { $builders($p, $cx, &recipe, $req, &log).await },
            move |recipe, region, log| async move {
                let at = $crate::SweepAt {
                    recipe: &recipe,
                    region: &region,
                    req: $req,
                    log: &log,
                };
                $images($p, at).await
            },
        )
    };
    (@sweep $p:ident, $cx:ident, $req:ident, $sweep:path) => {
        $sweep($p, $cx, $req)
    };
}

/// A provider's per-action context: `struct Act<'a>` with the provider (`p`), the action's
/// [`ActionScope`](crate::ActionScope) (`s`, which `Act` dereferences to) and one client per field,
/// each made by the provider method named for the build region; and
/// `async fn run(p, cx, action, inputs)`, which builds it and calls `Act::dispatch`, written here
/// once: each action kind goes to the `Act` method of the same name, which the crate writes (see
/// `dispatch` below for the list):
///
/// ```ignore
/// recipe_engine::action_context! {
///     MyProvider {
///         svc: aws_sdk_svc::Client = svc,
///         ssm: aws_sdk_ssm::Client = ssm,
///     }
/// }
/// ```
#[macro_export]
macro_rules! action_context {
    ($provider:ty { $($field:ident : $client:ty = $make:ident),+ $(,)? }) => {
        /// One action of one recipe (its [`ActionScope`](recipe_engine::ActionScope)), with the
        /// clients of its build region.
        pub(crate) struct Act<'a> {
            pub p: &'a $provider,
            pub s: $crate::ActionScope<'a>,
            $(pub $field: $client,)+
        }

        impl<'a> ::std::ops::Deref for Act<'a> {
            type Target = $crate::ActionScope<'a>;
            fn deref(&self) -> &$crate::ActionScope<'a> {
                &self.s
            }
        }

        /// Run one action.
        pub(crate) async fn run(
            p: &$provider,
            cx: &$crate::ApplyContext,
            a: &$crate::Action,
            inputs: &$crate::Outputs,
        ) -> ::std::result::Result<$crate::RecipeOutputs, $crate::ActionError> {
            let s = $crate::ActionScope::new(cx, a, inputs)?;
            let act = Act {
                p,
                $($field: p.$make(&s.home),)+
                s,
            };
            act.dispatch().await
        }

        impl Act<'_> {
            /// One action, by kind, to the methods of the one layout: what every target does
            /// (`resolve_base`, `launch_builder`, `terminate_builder`, `capture`, `wait_available`,
            /// `tag`, `copy`, `share`, `remove_copy`, `retag`, `retire`, `rollout`), the work on the
            /// builder (`on_builder`: steps, reboots, tests, clean-up, …) and the rest (`other`).
            async fn dispatch(
                &self,
            ) -> ::std::result::Result<$crate::RecipeOutputs, $crate::ActionError> {
                use $crate::ActionKind as K;
                let kind = &self.a.action;
                let done = |r: ::std::result::Result<(), $crate::ActionError>| {
                    r.map(|()| $crate::RecipeOutputs::default())
                };
                match kind {
                    K::ResolveBase => self.resolve_base().await,
                    K::LaunchBuilder => self.launch_builder().await,
                    K::TerminateBuilder => done(self.terminate_builder().await),
                    K::Capture { .. } => self.capture().await,
                    K::WaitAvailable => self.wait_available().await,
                    K::Tag => done(self.tag().await),
                    K::Copy { region } => self.copy(region).await,
                    K::Share { .. } | K::Unshare { .. } => {
                        let change = $crate::ShareChange::of(kind).expect("a share or unshare");
                        done(self.share(&change).await)
                    }
                    K::RemoveCopy { region, image_id } => {
                        done(self.remove_copy(region, image_id).await)
                    }
                    K::Retag { tags, remove, regions } => {
                        done(self.retag($crate::Retag { tags, remove, regions }).await)
                    }
                    K::Retire { build_id, .. } => done(self.retire(build_id).await),
                    K::Rollout { target, region } => {
                        let region = region.as_deref();
                        done(self.rollout($crate::Rollout { target, region }).await)
                    }
                    K::RunSteps { .. }
                    | K::Reboot
                    | K::InstallFirstBoot { .. }
                    | K::RunTests { .. }
                    | K::Cleanup { .. }
                    | K::VersionFile { .. }
                    | K::Sysprep => done(self.on_builder(kind).await),
                    K::Deprecate { .. } | K::Rebuild { .. } => {
                        done(self.other(kind).await)
                    }
                }
            }
        }
    };
}
