//! Canonical resource identifiers (RFC 8707 / MCP authorization): lowercase scheme and
//! host, default port dropped, no trailing slash, no query or fragment.

/// Canonicalises an absolute http(s) URL; `None` when it is not one.
pub fn canonical_resource(value: &str) -> Option<String> {
    let url = url::Url::parse(value.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    // `url` already lowercases the scheme and host and drops default ports.
    let mut out = format!("{}://{}", url.scheme(), url.host_str()?);
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(url.path().trim_end_matches('/'));
    Some(out)
}

/// The origin (`scheme://host[:port]`) of an absolute URL.
pub fn origin_of(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(
            canonical_resource("HTTPS://Example.COM/").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            canonical_resource("https://example.com:443/mcp/").as_deref(),
            Some("https://example.com/mcp")
        );
        assert_eq!(
            canonical_resource("http://127.0.0.1:8787").as_deref(),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(canonical_resource("ftp://example.com"), None);
        assert_eq!(canonical_resource("not a url"), None);
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://a.b/c?d").as_deref(), Some("https://a.b"));
        assert_eq!(
            origin_of("http://127.0.0.1:9/x").as_deref(),
            Some("http://127.0.0.1:9")
        );
    }
}
