//! The MCP conformance suite's fixture server, built with the `keycard-core` library API
//! only: the tools, resources, resource template, prompts and completions that the
//! suite's server scenarios (`@modelcontextprotocol/conformance`, `server` command) call
//! by name. `cargo run -p conformance-server` serves it behind the emulator (embedded mock
//! Keycard zone) and prints the MCP URL and a token for `clients/conformance/run.sh`.
//!
//! Log and progress notifications during a call go out through `ToolContext::log` and
//! `ToolContext::progress` (streamed on the call's SSE answer); sampling and elicitation
//! through `ToolContext::sample` and `ToolContext::elicit` (in a session, which the
//! emulator and the Worker's Durable Object keep). What the suite checks but this server
//! does not do is listed with its reason in `clients/conformance/expected-failures-full.yml`.
//!
//! ```
//! let server = conformance_server::conformance_server();
//! assert!(server.has_resources() && server.has_prompts() && server.has_completions());
//! assert!(server.tools().get("test_image_content").is_some());
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use keycard_core::Server;
use keycard_core::completion::CompletionRequest;
use keycard_core::prompts::{Prompt, PromptMessage};
use keycard_core::resources::{Resource, ResourceTemplate};
use keycard_core::tools::{
    Content, Elicited, LogLevel, NoArgs, ResourceContents, SamplingRequest, Tool, ToolContext,
    ToolError, ToolOutput,
};
use serde_json::json;

/// A 1×1 red PNG (base64), the suite's suggested test image.
pub const RED_PIXEL_PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// The form `test_elicitation` asks for.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct UserInfo {
    /// User's response
    pub username: String,
    /// User's email address
    pub email: String,
}

/// Elicits with `schema` and summarises the answer as the suite's scenarios expect.
async fn elicitation_summary(
    ctx: ToolContext,
    message: &str,
    schema: serde_json::Value,
) -> Result<String, ToolError> {
    let answer = ctx.elicit_with_schema(message, schema).await?;
    let action = answer.action();
    Ok(match answer.accepted() {
        Some(content) => format!(
            "Elicitation completed: action={action}, content={}",
            serde_json::Value::Object(content)
        ),
        None => format!("Elicitation completed: action={action}"),
    })
}

/// The URI of [`delegated_profile`], the same as the leak harness's
/// (`emulator::harness::examples::PROFILE_RESOURCE_URI`), so that
/// `emulator replay --mix profile_resource=N --target <this server>` reads it.
pub const PROFILE_RESOURCE_URI: &str = "upstream://profile";

/// The PNG bytes of [`RED_PIXEL_PNG_BASE64`].
pub fn red_pixel_png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(RED_PIXEL_PNG_BASE64)
        .unwrap_or_default()
}

/// A tiny valid WAV file: 8 kHz, mono, 8-bit PCM, 8 samples of silence.
pub fn tiny_wav() -> Vec<u8> {
    let samples = [128u8; 8];
    let data_len = samples.len() as u32;
    let mut wav = Vec::with_capacity(44 + samples.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    wav.extend_from_slice(&8000u32.to_le_bytes()); // byte rate
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend_from_slice(&samples);
    wav
}

/// Candidate values suggested for a prompt argument or template variable: those of a
/// small fixed list that start with what the user typed.
fn suggest(request: &CompletionRequest) -> Vec<String> {
    let all: &[&str] = match request.argument.as_str() {
        "id" => &["1", "123", "42"],
        _ => &["paris", "park", "party", "test", "testValue1", "testValue2"],
    };
    all.iter()
        .filter(|v| v.starts_with(request.value.as_str()))
        .map(|v| (*v).to_owned())
        .collect()
}

/// Arguments of `json_schema_2020_12_tool` (its input schema is given verbatim).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct JsonSchemaToolArgs {
    /// A name.
    pub name: Option<String>,
    /// An address.
    pub address: Option<Address>,
}

/// The `$defs/address` of `json_schema_2020_12_tool`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Address {
    /// Street.
    pub street: Option<String>,
    /// City.
    pub city: Option<String>,
}

/// Arguments of `test_sampling`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send to the LLM.
    pub prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show the user.
    pub message: String,
}

/// Arguments of `test_prompt_with_arguments`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct PromptArgs {
    /// First test argument
    pub arg1: String,
    /// Second test argument
    pub arg2: String,
}

/// Arguments of `test_prompt_with_embedded_resource`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EmbeddedResourceArgs {
    /// URI of the resource to embed
    #[serde(rename = "resourceUri")]
    pub resource_uri: String,
}

/// Variables of the `test://template/{id}/data` template.
#[derive(Debug, serde::Deserialize)]
pub struct TemplateVars {
    /// `{id}`.
    pub id: String,
}

/// The fixture tools.
pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new("test_simple_text")
            .description("Returns simple text content.")
            .handler(|_ctx: ToolContext, _: NoArgs| async move {
                Ok::<_, ToolError>("This is a simple text response for testing.")
            }),
        Tool::new("test_image_content")
            .description("Returns image content (a 1x1 red PNG).")
            .handler(|_ctx: ToolContext, _: NoArgs| async move {
                Ok::<_, ToolError>(Content::image(red_pixel_png(), "image/png"))
            }),
        Tool::new("test_audio_content")
            .description("Returns audio content (a tiny WAV).")
            .handler(|_ctx: ToolContext, _: NoArgs| async move {
                Ok::<_, ToolError>(Content::audio(tiny_wav(), "audio/wav"))
            }),
        Tool::new("test_embedded_resource")
            .description("Returns an embedded resource.")
            .handler(|_ctx: ToolContext, _: NoArgs| async move {
                Ok::<_, ToolError>(Content::resource(
                    ResourceContents::text(
                        "test://embedded-resource",
                        "This is an embedded resource content.",
                    )
                    .with_mime_type("text/plain"),
                ))
            }),
        Tool::new("test_multiple_content_types")
            .description("Returns text, image and embedded resource content.")
            .handler(|_ctx: ToolContext, _: NoArgs| async move {
                Ok::<_, ToolError>(ToolOutput::content([
                    Content::text("Multiple content types test:"),
                    Content::image(red_pixel_png(), "image/png"),
                    Content::resource(
                        ResourceContents::text(
                            "test://mixed-content-resource",
                            json!({ "test": "data", "value": 123 }).to_string(),
                        )
                        .with_mime_type("application/json"),
                    ),
                ]))
            }),
        Tool::new("test_error_handling")
            .description("Always fails (an isError result).")
            .handler(|_ctx: ToolContext, _: NoArgs| async move {
                Err::<String, _>(ToolError::new(
                    "This tool intentionally returns an error for testing",
                ))
            }),
        Tool::new("test_tool_with_logging")
            .description(
                "Sends 3 log notifications (info) during execution, streamed on the SSE answer \
                 to the call when the client accepts text/event-stream.",
            )
            .handler(|ctx: ToolContext, _: NoArgs| async move {
                for message in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ] {
                    ctx.log(LogLevel::Info, message);
                }
                Ok::<_, ToolError>("Tool execution completed")
            }),
        Tool::new("test_tool_with_progress")
            .description(
                "Reports progress 0, 50 and 100 of 100 when the request carries a progress \
                 token (no waits in between: the fixture stays runtime-free).",
            )
            .handler(|ctx: ToolContext, _: NoArgs| async move {
                for progress in [0.0, 50.0, 100.0] {
                    ctx.progress(progress, Some(100.0), None);
                }
                Ok::<_, ToolError>("Tool execution completed")
            }),
        Tool::new("test_sampling")
            .description("Asks the client's model to answer the prompt (sampling/createMessage).")
            .handler(|ctx: ToolContext, args: SamplingArgs| async move {
                let answer = ctx
                    .sample(SamplingRequest::new(100).user(args.prompt))
                    .await?;
                Ok::<_, ToolError>(format!("LLM response: {}", answer.text()))
            }),
        Tool::new("test_elicitation")
            .description("Asks the user for a username and an email (elicitation/create).")
            .handler(|ctx: ToolContext, args: ElicitationArgs| async move {
                let answer = ctx.elicit::<UserInfo>(args.message).await?;
                Ok::<_, ToolError>(match answer {
                    Elicited::Accepted(info) => format!(
                        "User response: action=accept, content={{username: {}, email: {}}}",
                        info.username, info.email
                    ),
                    other => format!("User response: action={}", other.action()),
                })
            }),
        Tool::new("test_elicitation_sep1034_defaults")
            .description("Elicits with a default value for every primitive type (SEP-1034).")
            .handler(|ctx: ToolContext, _: NoArgs| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "User name", "default": "John Doe" },
                        "age": { "type": "integer", "description": "User age", "default": 30 },
                        "score": { "type": "number", "description": "User score", "default": 95.5 },
                        "status": {
                            "type": "string",
                            "description": "User status",
                            "enum": ["active", "inactive", "pending"],
                            "default": "active"
                        },
                        "verified": { "type": "boolean", "description": "Verification status", "default": true }
                    },
                    "required": []
                });
                elicitation_summary(ctx, "Please review and update the form fields with defaults", schema).await
            }),
        Tool::new("test_elicitation_sep1330_enums")
            .description("Elicits with every enum schema variant (SEP-1330).")
            .handler(|ctx: ToolContext, _: NoArgs| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": {
                            "type": "string",
                            "enum": ["option1", "option2", "option3"]
                        },
                        "titledSingle": {
                            "type": "string",
                            "oneOf": [
                                { "const": "value1", "title": "First Option" },
                                { "const": "value2", "title": "Second Option" },
                                { "const": "value3", "title": "Third Option" }
                            ]
                        },
                        "legacyEnum": {
                            "type": "string",
                            "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"]
                        },
                        "untitledMulti": {
                            "type": "array",
                            "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
                        },
                        "titledMulti": {
                            "type": "array",
                            "items": {
                                "anyOf": [
                                    { "const": "value1", "title": "First Choice" },
                                    { "const": "value2", "title": "Second Choice" },
                                    { "const": "value3", "title": "Third Choice" }
                                ]
                            }
                        }
                    },
                    "required": []
                });
                elicitation_summary(ctx, "Please choose from the enum fields", schema).await
            }),
        Tool::new("json_schema_2020_12_tool")
            .description("Tool with JSON Schema 2020-12 features")
            .input_schema(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {
                            "street": { "type": "string" },
                            "city": { "type": "string" }
                        }
                    }
                },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" }
                },
                "additionalProperties": false
            }))
            .handler(|_ctx: ToolContext, args: JsonSchemaToolArgs| async move {
                let city = args
                    .address
                    .and_then(|a| a.city.or(a.street))
                    .unwrap_or_default();
                Ok::<_, ToolError>(format!(
                    "name={} city={city}",
                    args.name.unwrap_or_default()
                ))
            }),
    ]
}

/// Not a suite fixture: a **delegated** resource ([`PROFILE_RESOURCE_URI`]). Reading it
/// fetches `GET /user` from the default upstream (`KEYCARD_RESOURCE_URL`) with a token
/// Keycard issued for the reader, and returns the upstream's answer as JSON text. The
/// leak replays read it through reused isolates (natively and under workerd).
pub fn delegated_profile() -> Resource {
    Resource::new(PROFILE_RESOURCE_URI)
        .name("profile")
        .description("Your profile from the upstream API, fetched on your behalf.")
        .mime_type("application/json")
        .upstream(keycard_core::config::DEFAULT_UPSTREAM)
        .handler(|ctx: ToolContext| async move {
            let api = ctx.default_upstream();
            let response = api
                .fetch(api.get("/user").body(Default::default())?)
                .await?;
            if !response.status().is_success() {
                return Err(ToolError::new(format!(
                    "the upstream answered HTTP {}",
                    response.status().as_u16()
                )));
            }
            Ok(String::from_utf8_lossy(response.body()).into_owned())
        })
}

/// The fixture server: [`tools`], the static resources `test://static-text`,
/// `test://static-binary` and `test://watched-resource`, the template
/// `test://template/{id}/data` (with completion of `id`), and the prompts
/// `test_simple_prompt`, `test_prompt_with_arguments` (with completion),
/// `test_prompt_with_embedded_resource` and `test_prompt_with_image`; and, for the leak
/// replays, the delegated resource [`delegated_profile`].
pub fn conformance_server() -> Server {
    Server::new("keycard-conformance-server", env!("CARGO_PKG_VERSION"))
        .instructions("The MCP conformance suite's fixtures, served through Keycard.")
        .tools_from(tools())
        .resource(
            Resource::new("test://static-text")
                .name("static-text")
                .description("A static text resource.")
                .mime_type("text/plain")
                .handler(|_ctx: ToolContext| async move {
                    Ok::<_, ToolError>("This is the content of the static text resource.")
                }),
        )
        .resource(
            Resource::new("test://static-binary")
                .name("static-binary")
                .description("A static binary resource (a 1x1 red PNG).")
                .mime_type("image/png")
                .handler(|_ctx: ToolContext| async move { Ok::<_, ToolError>(red_pixel_png()) }),
        )
        .resource(
            Resource::new("test://watched-resource")
                .name("watched-resource")
                .description("A resource a client may subscribe to.")
                .mime_type("text/plain")
                .handler(|_ctx: ToolContext| async move {
                    Ok::<_, ToolError>("Watched resource content.")
                }),
        )
        .resource(delegated_profile())
        .resource_template(
            ResourceTemplate::new("test://template/{id}/data")
                .name("template-data")
                .description("Data for an id, substituted from the URI.")
                .mime_type("application/json")
                .complete(|_ctx, request| async move { Ok(suggest(&request)) })
                .handler(|_ctx: ToolContext, vars: TemplateVars| async move {
                    let id = vars.id;
                    Ok::<_, ToolError>(json!({
                        "id": id,
                        "templateTest": true,
                        "data": format!("Data for ID: {id}"),
                    }))
                }),
        )
        .prompt(
            Prompt::new("test_simple_prompt")
                .description("A simple prompt without arguments.")
                .handler(|_ctx: ToolContext, _: NoArgs| async move {
                    Ok::<_, ToolError>("This is a simple prompt for testing.")
                }),
        )
        .prompt(
            Prompt::new("test_prompt_with_arguments")
                .description("A prompt with two required arguments.")
                .complete(|_ctx, request| async move { Ok(suggest(&request)) })
                .handler(|_ctx: ToolContext, args: PromptArgs| async move {
                    Ok::<_, ToolError>(format!(
                        "Prompt with arguments: arg1='{}', arg2='{}'",
                        args.arg1, args.arg2
                    ))
                }),
        )
        .prompt(
            Prompt::new("test_prompt_with_embedded_resource")
                .description("A prompt embedding a resource.")
                .handler(|_ctx: ToolContext, args: EmbeddedResourceArgs| async move {
                    Ok::<_, ToolError>(vec![
                        PromptMessage::user(Content::resource(
                            ResourceContents::text(
                                args.resource_uri,
                                "Embedded resource content for testing.",
                            )
                            .with_mime_type("text/plain"),
                        )),
                        PromptMessage::user("Please process the embedded resource above."),
                    ])
                }),
        )
        .prompt(
            Prompt::new("test_prompt_with_image")
                .description("A prompt with an image.")
                .handler(|_ctx: ToolContext, _: NoArgs| async move {
                    Ok::<_, ToolError>(vec![
                        PromptMessage::user(Content::image(red_pixel_png(), "image/png")),
                        PromptMessage::user("Please analyze the image above."),
                    ])
                }),
        )
}

/// The names the suite calls, for a quick self-check: tools, resource URIs, template,
/// prompts.
pub fn fixture_names() -> BTreeMap<&'static str, Vec<String>> {
    let server = conformance_server();
    let mut out = BTreeMap::new();
    out.insert(
        "tools",
        server
            .tools()
            .iter()
            .map(|t| t.definition().name.clone())
            .collect(),
    );
    out.insert(
        "resources",
        server
            .resources()
            .iter()
            .map(|r| r.uri().to_owned())
            .collect(),
    );
    out.insert(
        "templates",
        server
            .resource_templates()
            .iter()
            .map(|t| t.uri_template().to_owned())
            .collect(),
    );
    out.insert(
        "prompts",
        server
            .prompts()
            .iter()
            .map(|p| p.name().to_owned())
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_registered() {
        let names = fixture_names();
        for tool in [
            "test_simple_text",
            "test_image_content",
            "test_audio_content",
            "test_embedded_resource",
            "test_multiple_content_types",
            "test_error_handling",
            "json_schema_2020_12_tool",
        ] {
            assert!(names["tools"].iter().any(|t| t == tool), "{tool}");
        }
        assert_eq!(names["templates"], vec!["test://template/{id}/data"]);
        assert_eq!(names["prompts"].len(), 4);
    }

    #[test]
    fn png_and_wav_are_well_formed() {
        assert!(red_pixel_png().starts_with(b"\x89PNG\r\n\x1a\n"));
        let wav = tiny_wav();
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..12], b"WAVE");
        assert_eq!(wav.len(), 52);
    }

    #[test]
    fn json_schema_tool_keeps_2020_12_keywords() {
        let server = conformance_server();
        let tool = server.tools().get("json_schema_2020_12_tool");
        let schema = tool.map(|t| t.definition().input_schema().clone());
        let schema = schema.unwrap_or_default();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert!(schema["$defs"]["address"].is_object());
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn prompt_with_embedded_resource_declares_resource_uri() {
        let server = conformance_server();
        let prompt = server
            .prompts()
            .iter()
            .find(|p| p.name() == "test_prompt_with_embedded_resource");
        let args: Vec<String> = prompt
            .map(|p| p.arguments().iter().map(|a| a.name.clone()).collect())
            .unwrap_or_default();
        assert_eq!(args, vec!["resourceUri".to_owned()]);
    }
}
