//! [`App`]: how your Worker builds its [`Server`], with or without reading its own
//! settings ([`Vars`]).

use std::collections::BTreeMap;

use keycard_core::Server;

/// Your Worker's `[vars]` and secrets, by name, for an `app` that builds its tools from
/// settings of its own: an API's base URL, a feature switch, a key for an API Keycard
/// does not front.
///
/// On Workers it reads the `env` the runtime gives the Worker (a `[vars]` entry, else a
/// secret of that name); in native tests, [`Vars::new`] makes one from pairs. Its `Debug`
/// shows no value (secrets live here).
///
/// ```
/// use keycard_worker::Vars;
/// use keycard_worker::core::Server;
/// use keycard_worker::core::tools::{NoArgs, Tool, ToolContext, ToolError};
///
/// /// The server, its greeting taken from the Worker's `GREETING` setting.
/// fn app(vars: &Vars) -> Server {
///     let greeting = vars.get("GREETING").unwrap_or_else(|| "Hello".to_owned());
///     Server::new("my-server", "1.0.0").tool(
///         Tool::new("greet")
///             .description("Greets the caller.")
///             .handler(move |ctx: ToolContext, _: NoArgs| {
///                 let text = format!("{greeting}, {}!", ctx.identity().subject().unwrap_or("you"));
///                 async move { Ok::<_, ToolError>(text) }
///             }),
///     )
/// }
///
/// keycard_worker::entry!(app);
///
/// // Natively, e.g. in a test: the same `app` with settings of the test's choosing.
/// let server = app(&Vars::new([("GREETING", "Hi")]));
/// assert!(server.tools().get("greet").is_some());
/// ```
///
/// A handler must be `Send` (the core's tools also run in native, multi-threaded hosts
/// such as the emulator), so it can hold what `app` read (strings, numbers) but not the
/// runtime's JS objects (KV, D1, service bindings); [`Vars::worker_env`] gives those to
/// code of your own outside the tools.
pub struct Vars(Inner);

enum Inner {
    #[cfg(target_arch = "wasm32")]
    Worker(worker::Env),
    Map(BTreeMap<String, String>),
}

impl Vars {
    /// Settings from `(name, value)` pairs: for native tests and hosts.
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self(Inner::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// The setting `name`: a `[vars]` entry, else a secret of that name; `None` when the
    /// Worker has neither (or a binding of another kind by that name).
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.0 {
            #[cfg(target_arch = "wasm32")]
            Inner::Worker(env) => crate::serve::env_value(env, name),
            Inner::Map(map) => map.get(name).cloned(),
        }
    }

    /// The runtime's `env` itself (bindings: KV, D1, Durable Objects, services), on
    /// Workers; `None` for [`Vars::new`]'s.
    #[cfg(target_arch = "wasm32")]
    pub fn worker_env(&self) -> Option<&worker::Env> {
        match &self.0 {
            Inner::Worker(env) => Some(env),
            Inner::Map(_) => None,
        }
    }

    #[cfg(target_arch = "wasm32")]
    pub(crate) fn from_env(env: &worker::Env) -> Self {
        Self(Inner::Worker(env.clone()))
    }
}

/// No settings.
impl Default for Vars {
    fn default() -> Self {
        Self(Inner::Map(BTreeMap::new()))
    }
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            #[cfg(target_arch = "wasm32")]
            Inner::Worker(_) => f.write_str("Vars(worker env)"),
            Inner::Map(map) => f.debug_set().entries(map.keys()).finish(),
        }
    }
}

/// What builds your [`Server`]: a `fn() -> Server`, or a `fn(&Vars) -> Server` that reads
/// the Worker's own settings. [`entry!`](crate::entry), `serve` and `warm_up` take either;
/// you never implement this (the parameter `M` only tells the two apart).
///
/// It is called once per isolate for the server that serves requests (at script startup,
/// or else on the first request), and once more at startup for the warm-up's stand-in
/// gateway, whose tools are listed and never called. Both get the Worker's settings.
/// Where a setting may be missing, give a default or an error the tools report rather
/// than a panic: a panic in `app` stops the Worker's script.
///
/// `serve` and `respond` take an `App` too: a closure given there names its parameter's
/// type (`|vars: &Vars| app(vars)`), and borrows rather than moves what it captures (it
/// is called again by each request that finds no gateway built, e.g. after a
/// configuration error).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not build a `Server`",
    label = "expected a `fn() -> Server` or a `fn(&Vars) -> Server`",
    note = "a closure names its parameter's type: `|vars: &keycard_worker::Vars| ...`"
)]
pub trait App<M> {
    /// Whether [`App::server`] reads the settings (a `fn(&Vars) -> Server`): the warm-up
    /// does not build such an app with empty settings.
    #[doc(hidden)]
    const READS_VARS: bool;

    /// Builds the server, with the Worker's settings.
    fn server(&self, vars: &Vars) -> Server;
}

/// [`App`]'s marker for a `fn() -> Server`.
#[doc(hidden)]
pub enum WithoutVars {}

/// [`App`]'s marker for a `fn(&Vars) -> Server`.
#[doc(hidden)]
pub enum WithVars {}

impl<F: Fn() -> Server> App<WithoutVars> for F {
    const READS_VARS: bool = false;

    fn server(&self, _vars: &Vars) -> Server {
        self()
    }
}

impl<F: Fn(&Vars) -> Server> App<WithVars> for F {
    const READS_VARS: bool = true;

    fn server(&self, vars: &Vars) -> Server {
        self(vars)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a test failure

    use super::*;

    fn plain() -> Server {
        Server::new("plain", "1")
    }

    fn configured(vars: &Vars) -> Server {
        Server::new(vars.get("NAME").unwrap_or_else(|| "unnamed".into()), "1")
    }

    fn name<M>(app: &impl App<M>, vars: &Vars) -> String {
        app.server(vars).name().to_owned()
    }

    #[test]
    fn both_kinds_of_app_build_with_the_workers_settings() {
        let vars = Vars::new([("NAME", "from-vars"), ("SECRET", "s3cr3t")]);
        assert_eq!(name(&plain, &vars), "plain");
        assert_eq!(name(&configured, &vars), "from-vars");
        assert_eq!(name(&configured, &Vars::default()), "unnamed");
        let closure = |v: &Vars| Server::new(v.get("SECRET").unwrap(), "1");
        assert_eq!(name(&closure, &vars), "s3cr3t");
    }

    #[test]
    fn only_an_app_taking_vars_reads_them() {
        fn reads<M, A: App<M>>(_: &A) -> bool {
            A::READS_VARS
        }
        assert!(!reads(&plain));
        assert!(reads(&configured));
    }

    #[test]
    fn debug_shows_names_never_values() {
        let vars = Vars::new([("API_KEY", "s3cr3t-value")]);
        let shown = format!("{vars:?}");
        assert!(
            shown.contains("API_KEY") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }
}
