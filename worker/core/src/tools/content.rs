//! Content blocks: what tool results (and prompt messages) are made of, per the MCP
//! schema — text, image, audio, resource link and embedded resource, each with optional
//! [`Annotations`].
//!
//! Each protocol revision gets what its schema allows ([`Content::to_json`]):
//!
//! | block | 2025-03-26 | 2025-06-18 and later |
//! |---|---|---|
//! | text, image, audio, embedded resource | as is | as is |
//! | resource link | a text block naming the link (the type does not exist yet) | `resource_link` |
//! | `annotations.lastModified`, `title` | dropped | as is |

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::mcp::version::ProtocolVersion;

/// Who a block is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person using the client.
    User,
    /// The model.
    Assistant,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// Optional hints on a content block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// Who the block is for.
    pub audience: Vec<Role>,
    /// Importance from 0 (least) to 1 (most).
    pub priority: Option<f64>,
    /// ISO 8601 time of the last change (2025-06-18 and later).
    pub last_modified: Option<String>,
}

impl Annotations {
    fn to_json(&self, version: ProtocolVersion) -> Option<Value> {
        let mut out = Map::new();
        if !self.audience.is_empty() {
            let roles: Vec<&str> = self.audience.iter().map(|r| r.as_str()).collect();
            out.insert("audience".into(), json!(roles));
        }
        if let Some(p) = self.priority {
            out.insert("priority".into(), json!(p.clamp(0.0, 1.0)));
        }
        if version.has_titles()
            && let Some(t) = &self.last_modified
        {
            out.insert("lastModified".into(), json!(t));
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }
}

/// The contents of a resource: text or binary.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceContents {
    /// Text contents.
    Text {
        /// The resource URI.
        uri: String,
        /// MIME type, if known.
        mime_type: Option<String>,
        /// The text.
        text: String,
    },
    /// Binary contents (sent base64-encoded).
    Blob {
        /// The resource URI.
        uri: String,
        /// MIME type, if known.
        mime_type: Option<String>,
        /// The bytes.
        blob: Vec<u8>,
    },
}

impl ResourceContents {
    /// Text contents of `uri`.
    pub fn text(uri: impl Into<String>, text: impl Into<String>) -> Self {
        Self::Text {
            uri: uri.into(),
            mime_type: None,
            text: text.into(),
        }
    }

    /// Binary contents of `uri`.
    pub fn blob(uri: impl Into<String>, blob: impl Into<Vec<u8>>) -> Self {
        Self::Blob {
            uri: uri.into(),
            mime_type: None,
            blob: blob.into(),
        }
    }

    /// With a MIME type.
    #[must_use]
    pub fn with_mime_type(mut self, mime: impl Into<String>) -> Self {
        match &mut self {
            Self::Text { mime_type, .. } | Self::Blob { mime_type, .. } => {
                *mime_type = Some(mime.into());
            }
        }
        self
    }

    /// The URI.
    pub fn uri(&self) -> &str {
        match self {
            Self::Text { uri, .. } | Self::Blob { uri, .. } => uri,
        }
    }

    /// The JSON form (`{uri, mimeType?, text|blob}`).
    pub fn to_json(&self) -> Value {
        let (uri, mime_type) = match self {
            Self::Text { uri, mime_type, .. } | Self::Blob { uri, mime_type, .. } => {
                (uri, mime_type)
            }
        };
        let mut out = Map::new();
        out.insert("uri".into(), json!(uri));
        if let Some(m) = mime_type {
            out.insert("mimeType".into(), json!(m));
        }
        match self {
            Self::Text { text, .. } => out.insert("text".into(), json!(text)),
            Self::Blob { blob, .. } => out.insert(
                "blob".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(blob)),
            ),
        };
        Value::Object(out)
    }
}

/// A link to a resource the client can read (or fetch) on its own.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceLink {
    /// The resource URI.
    pub uri: String,
    /// Its name.
    pub name: String,
    /// A display title.
    pub title: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// MIME type, if known.
    pub mime_type: Option<String>,
    /// Size in bytes, if known.
    pub size: Option<u64>,
}

/// One content block.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// Hints.
        annotations: Option<Annotations>,
    },
    /// An image (sent base64-encoded).
    Image {
        /// The bytes.
        data: Vec<u8>,
        /// e.g. `image/png`.
        mime_type: String,
        /// Hints.
        annotations: Option<Annotations>,
    },
    /// Audio (sent base64-encoded).
    Audio {
        /// The bytes.
        data: Vec<u8>,
        /// e.g. `audio/wav`.
        mime_type: String,
        /// Hints.
        annotations: Option<Annotations>,
    },
    /// A link to a resource (2025-06-18 and later; a text block before).
    ResourceLink {
        /// The link.
        link: ResourceLink,
        /// Hints.
        annotations: Option<Annotations>,
    },
    /// A resource embedded whole.
    Resource {
        /// Its contents.
        resource: ResourceContents,
        /// Hints.
        annotations: Option<Annotations>,
    },
}

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text {
            text: text.into(),
            annotations: None,
        }
    }

    /// An image block from raw bytes.
    pub fn image(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Self::Image {
            data: data.into(),
            mime_type: mime_type.into(),
            annotations: None,
        }
    }

    /// An audio block from raw bytes.
    pub fn audio(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Self::Audio {
            data: data.into(),
            mime_type: mime_type.into(),
            annotations: None,
        }
    }

    /// A resource link.
    pub fn resource_link(link: ResourceLink) -> Self {
        Self::ResourceLink {
            link,
            annotations: None,
        }
    }

    /// An embedded resource.
    pub fn resource(resource: ResourceContents) -> Self {
        Self::Resource {
            resource,
            annotations: None,
        }
    }

    /// The same block with `annotations`.
    #[must_use]
    pub fn with_annotations(mut self, hints: Annotations) -> Self {
        match &mut self {
            Self::Text { annotations, .. }
            | Self::Image { annotations, .. }
            | Self::Audio { annotations, .. }
            | Self::ResourceLink { annotations, .. }
            | Self::Resource { annotations, .. } => *annotations = Some(hints),
        }
        self
    }

    /// The text of a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The JSON form in `version` (see the module table).
    pub fn to_json(&self, version: ProtocolVersion) -> Value {
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let (mut out, annotations) = match self {
            Self::Text { text, annotations } => {
                (json!({ "type": "text", "text": text }), annotations)
            }
            Self::Image {
                data,
                mime_type,
                annotations,
            } => (
                json!({ "type": "image", "data": b64(data), "mimeType": mime_type }),
                annotations,
            ),
            Self::Audio {
                data,
                mime_type,
                annotations,
            } => (
                json!({ "type": "audio", "data": b64(data), "mimeType": mime_type }),
                annotations,
            ),
            Self::ResourceLink { link, annotations } if !version.has_titles() => {
                let mut text = format!("Resource: {} <{}>", link.name, link.uri);
                if let Some(d) = &link.description {
                    text.push_str(&format!(" — {d}"));
                }
                (json!({ "type": "text", "text": text }), annotations)
            }
            Self::ResourceLink { link, annotations } => {
                let mut out = Map::new();
                out.insert("type".into(), json!("resource_link"));
                out.insert("uri".into(), json!(link.uri));
                out.insert("name".into(), json!(link.name));
                if let Some(t) = &link.title {
                    out.insert("title".into(), json!(t));
                }
                if let Some(d) = &link.description {
                    out.insert("description".into(), json!(d));
                }
                if let Some(m) = &link.mime_type {
                    out.insert("mimeType".into(), json!(m));
                }
                if let Some(s) = link.size {
                    out.insert("size".into(), json!(s));
                }
                (Value::Object(out), annotations)
            }
            Self::Resource {
                resource,
                annotations,
            } => (
                json!({ "type": "resource", "resource": resource.to_json() }),
                annotations,
            ),
        };
        if let Some(a) = annotations.as_ref().and_then(|a| a.to_json(version))
            && let Value::Object(map) = &mut out
        {
            map.insert("annotations".into(), a);
        }
        out
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: ProtocolVersion = ProtocolVersion::V2025_03_26;
    const NEW: ProtocolVersion = ProtocolVersion::V2025_11_25;

    #[test]
    fn every_block_type() {
        assert_eq!(
            Content::text("hi").to_json(NEW),
            json!({"type": "text", "text": "hi"})
        );
        assert_eq!(
            Content::image(vec![1, 2, 3], "image/png").to_json(NEW),
            json!({"type": "image", "data": "AQID", "mimeType": "image/png"})
        );
        assert_eq!(
            Content::audio(vec![0xff], "audio/wav").to_json(NEW),
            json!({"type": "audio", "data": "/w==", "mimeType": "audio/wav"})
        );
        let embedded = Content::resource(
            ResourceContents::text("test://x", "body").with_mime_type("text/plain"),
        );
        assert_eq!(
            embedded.to_json(NEW),
            json!({"type": "resource", "resource": {"uri": "test://x", "mimeType": "text/plain", "text": "body"}})
        );
        let blob = Content::resource(ResourceContents::blob("test://b", vec![0u8, 1]));
        assert_eq!(blob.to_json(NEW)["resource"]["blob"], "AAE=");
    }

    #[test]
    fn resource_links_per_era() {
        let link = Content::resource_link(ResourceLink {
            uri: "test://doc".into(),
            name: "doc".into(),
            description: Some("a document".into()),
            size: Some(12),
            ..ResourceLink::default()
        });
        assert_eq!(
            link.to_json(NEW),
            json!({"type": "resource_link", "uri": "test://doc", "name": "doc", "description": "a document", "size": 12})
        );
        assert_eq!(
            link.to_json(OLD),
            json!({"type": "text", "text": "Resource: doc <test://doc> — a document"})
        );
    }

    #[test]
    fn annotations_per_era() {
        let block = Content::text("x").with_annotations(Annotations {
            audience: vec![Role::User],
            priority: Some(1.5),
            last_modified: Some("2026-01-01T00:00:00Z".into()),
        });
        assert_eq!(
            block.to_json(NEW)["annotations"],
            json!({"audience": ["user"], "priority": 1.0, "lastModified": "2026-01-01T00:00:00Z"})
        );
        assert_eq!(
            block.to_json(OLD)["annotations"],
            json!({"audience": ["user"], "priority": 1.0})
        );
    }
}
