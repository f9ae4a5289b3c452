//! The scaffolding every provider crate would otherwise write again, as two macros:
//!
//! - [`delegate_provider!`](crate::delegate_provider): the [`Provider`](crate::Provider) methods
//!   that only hand the work to the crate's modules (`observe`, `run`, `sweep`, `release`,
//!   `discard`), each a function taking the provider first;
//! - [`action_context!`](crate::action_context): the per-action `Act`, holding the action's
//!   [`ActionScope`](crate::ActionScope) and the target's clients for its build region, dereferencing
//!   to the scope, and the `run` function that builds it and calls its `dispatch`.
//!
//! What differs between targets (`target`, `lane`, `limit`, `dispatch`) stays written out in each
//! crate.

#[doc(hidden)]
pub mod reexport {
    pub use recipe_loader::LoadedRecipe;
    pub use recipe_plan::{Observations, ObserveError};
    pub use recipe_state::RecipeState;
}

/// The [`Provider`](crate::Provider) methods that delegate to functions of the provider's crate,
/// inside `impl Provider for …`. Each function takes the provider first, then the method's
/// arguments, and returns a future of the method's result:
///
/// ```ignore
/// impl Provider for MyProvider {
///     fn target(&self) -> Target { … }
///     fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane { … }
///     recipe_engine::delegate_provider! {
///         observe: observe::observe,
///         run: actions::run,
///         sweep: sweep::sweep,
///         release: builder::release_one,
///         discard: image::discard,
///     }
/// }
/// ```
///
/// Without arguments it uses the one module layout: `observe::observe`, `actions::run`,
/// `sweep::sweep`, `builder::release_one`, `image::discard`.
#[macro_export]
macro_rules! delegate_provider {
    () => {
        $crate::delegate_provider! {
            observe: observe::observe,
            run: actions::run,
            sweep: sweep::sweep,
            release: builder::release_one,
            discard: image::discard,
        }
    };
    (
        observe: $observe:path,
        run: $run:path,
        sweep: $sweep:path,
        release: $release:path,
        discard: $discard:path $(,)?
    ) => {
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

        fn sweep<'a>(
            &'a self,
            cx: &'a $crate::ApplyContext,
            request: &'a $crate::SweepRequest,
        ) -> $crate::BoxFuture<'a, $crate::Swept> {
            ::std::boxed::Box::pin($sweep(self, cx, request))
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
            ::std::boxed::Box::pin($discard(self, cx, image))
        }
    };
}

/// A provider's per-action context: `struct Act<'a>` with the provider (`p`), the action's
/// [`ActionScope`](crate::ActionScope) (`s`, which `Act` dereferences to) and one client per field,
/// each made by the provider method named for the build region; and
/// `async fn run(p, cx, action, inputs)`, which builds it and calls `Act::dispatch` (written by the
/// crate):
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
    };
}
