//! `#[tool]`: a [keycard-core](https://docs.rs/keycard-core) MCP tool from an async fn.
//!
//! The tool's name is the function's name and its description is the function's doc
//! comment; the arguments type (`#[derive(Deserialize, JsonSchema)]`) gives the input
//! schema. The function is kept as written and a `<name>_tool()` function building the
//! [`keycard_core::tools::Tool`](https://docs.rs/keycard-core/latest/keycard_core/tools/struct.Tool.html)
//! is generated next to it. See [`macro@tool`].

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, LitStr, Meta, parse_macro_input};

/// Turns an async fn into a typed MCP tool of `keycard-core`.
///
/// ```
/// use keycard_core::tools::{ToolContext, ToolError};
/// use keycard_macros::tool;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct GreetArgs {
///     /// Whom to greet.
///     name: String,
/// }
///
/// /// Says hello to `name`
/// /// on behalf of the signed-in user.
/// #[tool(title = "Greeting", read_only)]
/// async fn greet(ctx: ToolContext, args: GreetArgs) -> Result<String, ToolError> {
///     let who = ctx.identity().subject().unwrap_or("a service client");
///     Ok(format!("Hello {}, from {who}!", args.name))
/// }
///
/// /// Who is calling.
/// #[tool]
/// async fn whoami(ctx: ToolContext) -> Result<String, ToolError> {
///     Ok(ctx.identity().subject().unwrap_or("service client").to_owned())
/// }
///
/// let greet = greet_tool();
/// assert_eq!(greet.definition().name, "greet");
/// assert_eq!(greet.definition().title.as_deref(), Some("Greeting"));
/// assert_eq!(
///     greet.definition().description,
///     "Says hello to `name` on behalf of the signed-in user."
/// );
/// assert!(greet.definition().input_schema()["properties"]["name"].is_object());
/// assert_eq!(whoami_tool().definition().name, "whoami");
/// ```
///
/// The function must be `async`, take the caller's `ToolContext` and optionally one
/// arguments value (`A: Deserialize + JsonSchema`), and return `Result<R, ToolError>`
/// with `R: IntoToolOutput` (text, content blocks, a `ToolOutput`, `Json` structured
/// output). A function with only the context takes
/// no arguments (`NoArgs`, the schema `{}`). It is kept unchanged, so it can still be
/// called directly (e.g. from a unit test), and
/// `fn <name>_tool() -> keycard_core::tools::Tool` is generated with the function's
/// visibility.
///
/// The description is the doc comment: lines of a paragraph are trimmed and joined with
/// spaces, paragraphs are separated by a blank line.
///
/// Optional arguments, in any order:
///
/// - `name = "..."`: the tool's name instead of the function's (`<fn>_tool` keeps the
///   function's name);
/// - `description = "..."`: instead of the doc comment;
/// - `title = "..."`: the display title;
/// - `read_only`: the `readOnlyHint` and `idempotentHint` annotations;
/// - `upstream = "..."`: an upstream the tool calls through `ctx.upstream(name)`, checked
///   against the configuration when the gateway is built; may be repeated;
/// - `crate = "..."`: the path of `keycard-core` in the generated code, when it is not
///   `::keycard_core` (a renamed dependency).
///
/// The generated code names `::keycard_core`, so the crate depends on `keycard-core`. A
/// Worker that depends on `keycard-worker` alone writes `#[keycard_worker::tool]`, the
/// same attribute with the path `::keycard_worker::core`.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    tool_with_core(attr, item, quote!(::keycard_core))
}

/// [`macro@tool`] with `::keycard_worker::core` as the path of keycard-core:
/// `keycard_worker` re-exports it as `keycard_worker::tool`. Not an API of its own.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn worker_tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    tool_with_core(attr, item, quote!(::keycard_worker::core))
}

fn tool_with_core(attr: TokenStream, item: TokenStream, default_core: TokenStream2) -> TokenStream {
    let mut args = ToolArgs::default();
    let parser = syn::meta::parser(|meta| args.parse(meta));
    parse_macro_input!(attr with parser);
    let item = parse_macro_input!(item as ItemFn);
    let core = args.core_path(default_core);
    match expand(args, &item, &core) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // Keep the function so its body is still checked and used.
            let mut tokens = error.to_compile_error();
            tokens.extend(quote!(#item));
            tokens.into()
        }
    }
}

#[derive(Default)]
struct ToolArgs {
    name: Option<LitStr>,
    description: Option<LitStr>,
    title: Option<LitStr>,
    read_only: bool,
    upstreams: Vec<LitStr>,
    /// `crate = "..."`: where the generated code finds `keycard-core`.
    krate: Option<syn::Path>,
}

impl ToolArgs {
    /// The path of keycard-core in the generated code: `crate = "..."` if given, else the
    /// attribute's own (`tool`: `::keycard_core`; `worker_tool`: `::keycard_worker::core`).
    fn core_path(&mut self, default_core: TokenStream2) -> TokenStream2 {
        match self.krate.take() {
            Some(path) => quote!(#path),
            None => default_core,
        }
    }

    fn parse(&mut self, meta: syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
        let set = |slot: &mut Option<LitStr>, meta: &syn::meta::ParseNestedMeta<'_>| {
            if slot.is_some() {
                return Err(meta.error("given twice"));
            }
            *slot = Some(meta.value()?.parse()?);
            Ok(())
        };
        if meta.path.is_ident("name") {
            set(&mut self.name, &meta)
        } else if meta.path.is_ident("description") {
            set(&mut self.description, &meta)
        } else if meta.path.is_ident("title") {
            set(&mut self.title, &meta)
        } else if meta.path.is_ident("read_only") {
            if self.read_only {
                return Err(meta.error("given twice"));
            }
            self.read_only = true;
            Ok(())
        } else if meta.path.is_ident("upstream") {
            self.upstreams.push(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            if self.krate.is_some() {
                return Err(meta.error("given twice"));
            }
            let path: LitStr = meta.value()?.parse()?;
            self.krate = Some(path.parse().map_err(|_| {
                syn::Error::new(
                    path.span(),
                    "`crate` is the path of keycard-core, e.g. `crate = \"keycard_worker::core\"`",
                )
            })?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[tool] argument; expected `name`, `description`, `title`, `read_only`, `upstream` or `crate`",
            ))
        }
    }
}

fn expand(args: ToolArgs, item: &ItemFn, core: &TokenStream2) -> syn::Result<TokenStream2> {
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span,
            "#[tool] needs an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "#[tool] functions cannot be generic",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "#[tool] functions cannot be variadic",
        ));
    }
    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            return Err(syn::Error::new(
                receiver.span(),
                "#[tool] functions cannot take `self`: use a free async fn (state can live in a static or be captured by `Tool::new(..).handler(..)`)",
            ));
        }
    }
    let takes_args = match sig.inputs.len() {
        0 => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                "#[tool] functions take the caller's context: `(ctx: ToolContext)` or `(ctx: ToolContext, args: Args)`",
            ));
        }
        1 => false,
        2 => true,
        _ => {
            let extra = sig.inputs.iter().nth(2).map_or(sig.span(), Spanned::span);
            return Err(syn::Error::new(
                extra,
                "#[tool] functions take at most two parameters: `(ctx: ToolContext, args: Args)`; put every argument in the `Args` type",
            ));
        }
    };

    let ident = &sig.ident;
    let name = match &args.name {
        Some(name) => name.clone(),
        None => LitStr::new(&ident.unraw().to_string(), ident.span()),
    };
    check_name(&name)?;
    let description = match &args.description {
        Some(description) => description.clone(),
        None => match doc_comment(&item.attrs)? {
            Some(doc) => LitStr::new(&doc, ident.span()),
            None => {
                return Err(syn::Error::new(
                    ident.span(),
                    "#[tool] needs a description: add a doc comment (`/// What the tool does.`) or `#[tool(description = \"...\")]`",
                ));
            }
        },
    };

    let mut builder = quote!(
        #core::tools::Tool::new(#name).description(#description)
    );
    if let Some(title) = &args.title {
        builder.extend(quote!(.title(#title)));
    }
    if args.read_only {
        builder.extend(quote!(.read_only()));
    }
    for upstream in &args.upstreams {
        builder.extend(quote!(.upstream(#upstream)));
    }
    let span = sig.span();
    let handler = if takes_args {
        quote_spanned!(span=> #ident)
    } else {
        quote_spanned!(span=>
            |ctx: #core::tools::ToolContext, _: #core::tools::NoArgs| #ident(ctx)
        )
    };

    let vis = &item.vis;
    let tool_fn = format_ident!("{}_tool", ident.unraw(), span = ident.span());
    let doc = format!(
        "The MCP tool `{}` (generated by `#[tool]` from `{}`).",
        name.value(),
        ident.unraw()
    );
    Ok(quote! {
        #item

        #[doc = #doc]
        #[must_use]
        #vis fn #tool_fn() -> #core::tools::Tool {
            #builder.handler(#handler)
        }
    })
}

/// The MCP name rule: 1–128 characters of `A-Za-z0-9_-.`.
fn check_name(name: &LitStr) -> syn::Result<()> {
    let value = name.value();
    let valid = (1..=128).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(
            name.span(),
            "a tool name is 1 to 128 characters of A-Z, a-z, 0-9, `_`, `-` and `.`",
        ))
    }
}

/// The doc comment's text: each paragraph's lines trimmed and joined with spaces,
/// paragraphs separated by a blank line. `None` if there is none or it is blank.
fn doc_comment(attrs: &[syn::Attribute]) -> syn::Result<Option<String>> {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        let Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) = &nv.value
        else {
            return Err(syn::Error::new(
                nv.value.span(),
                "#[tool] reads the doc comment as text: use `#[tool(description = ...)]` for a computed description",
            ));
        };
        for line in text.value().split('\n') {
            let line = line.trim();
            if line.is_empty() {
                if !current.is_empty() {
                    paragraphs.push(std::mem::take(&mut current));
                }
            } else {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(line);
            }
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    Ok((!paragraphs.is_empty()).then(|| paragraphs.join("\n\n")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a test failure

    use super::*;

    fn expand_str(attr: TokenStream2, item: TokenStream2) -> Result<String, String> {
        let mut args = ToolArgs::default();
        let parser = syn::meta::parser(|meta| args.parse(meta));
        syn::parse::Parser::parse2(parser, attr).map_err(|e| e.to_string())?;
        let item: ItemFn = syn::parse2(item).unwrap();
        expand(args, &item, &quote!(::keycard_core))
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn doc_paragraphs_are_joined() {
        let item: ItemFn = syn::parse_quote! {
            ///  First line
            ///   second line.
            ///
            /// Next paragraph.
            async fn f() {}
        };
        assert_eq!(
            doc_comment(&item.attrs).unwrap().as_deref(),
            Some("First line second line.\n\nNext paragraph.")
        );
    }

    #[test]
    fn one_parameter_uses_no_args() {
        let out = expand_str(
            quote!(),
            quote! {
                /// Who.
                pub async fn whoami(ctx: ToolContext) -> Result<String, ToolError> { todo!() }
            },
        )
        .unwrap();
        assert!(out.contains("pub fn whoami_tool"), "{out}");
        assert!(out.contains(":: keycard_core :: tools :: NoArgs"), "{out}");
        assert!(out.contains("whoami (ctx)"), "{out}");
    }

    #[test]
    fn attribute_arguments_are_applied() {
        let out = expand_str(
            quote!(name = "gh.user", title = "GitHub user", read_only, upstream = "github", upstream = "other"),
            quote! {
                /// User.
                async fn github_user(ctx: ToolContext, args: NoArgs) -> Result<String, ToolError> { todo!() }
            },
        )
        .unwrap();
        for part in [
            "Tool :: new (\"gh.user\")",
            ". title (\"GitHub user\")",
            ". read_only ()",
            ". upstream (\"github\") . upstream (\"other\")",
            ". handler (github_user)",
            "fn github_user_tool",
        ] {
            assert!(out.contains(part), "{part} not in {out}");
        }
    }

    #[test]
    fn crate_path_is_followed() {
        let item = quote! {
            /// Who.
            async fn whoami(ctx: ToolContext) -> Result<String, ToolError> { todo!() }
        };
        let worker_core = || quote!(::keycard_worker::core);
        let mut args = ToolArgs::default();
        assert_eq!(
            args.core_path(worker_core()).to_string(),
            ":: keycard_worker :: core"
        );
        let parser = syn::meta::parser(|meta| args.parse(meta));
        syn::parse::Parser::parse2(parser, quote!(crate = "my_core")).unwrap();
        let core = args.core_path(worker_core());
        let out = expand(args, &syn::parse2(item).unwrap(), &core)
            .unwrap()
            .to_string();
        for part in [
            "my_core :: tools :: Tool :: new",
            "-> my_core :: tools :: Tool",
            "my_core :: tools :: NoArgs",
        ] {
            assert!(out.contains(part), "{part} not in {out}");
        }
        assert!(!out.contains("keycard_core"), "{out}");
        for bad in [
            quote!(crate = "not a path"),
            quote!(crate = "a", crate = "b"),
        ] {
            let mut args = ToolArgs::default();
            let parser = syn::meta::parser(|meta| args.parse(meta));
            assert!(syn::parse::Parser::parse2(parser, bad).is_err());
        }
    }

    #[test]
    fn errors_are_clear() {
        let cases = [
            (
                quote!(),
                quote!(
                    /// D.
                    fn f(ctx: C) {}
                ),
                "needs an `async fn`",
            ),
            (
                quote!(),
                quote!(
                    /// D.
                    async fn f(ctx: C, a: A, b: B) {}
                ),
                "at most two parameters",
            ),
            (
                quote!(),
                quote!(
                    async fn f(ctx: C) {}
                ),
                "needs a description",
            ),
            (
                quote!(),
                quote!(
                    /// D.
                    async fn f(&self, ctx: C) {}
                ),
                "cannot take `self`",
            ),
            (
                quote!(),
                quote!(
                    /// D.
                    async fn f() {}
                ),
                "take the caller's context",
            ),
            (
                quote!(name = "has space"),
                quote!(
                    /// D.
                    async fn f(ctx: C) {}
                ),
                "a tool name is",
            ),
            (
                quote!(readonly),
                quote!(
                    /// D.
                    async fn f(ctx: C) {}
                ),
                "unknown #[tool] argument",
            ),
        ];
        for (attr, item, expected) in cases {
            let err = expand_str(attr, item).unwrap_err();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
        // A description argument stands in for the doc comment.
        assert!(
            expand_str(
                quote!(description = "Explicit."),
                quote!(
                    async fn f(ctx: C) {}
                )
            )
            .unwrap()
            .contains("\"Explicit.\"")
        );
    }
}
