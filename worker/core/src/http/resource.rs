//! Canonical resource identifiers (RFC 8707 / MCP authorization): lowercase scheme and
//! host, default port dropped, no trailing slash, no query or fragment.

/// Canonicalises an absolute http(s) URL; `None` when it is not one.
pub fn canonical_resource(value: &str) -> Option<String> {
    if let Some(simple) = Simple::parse(value)
        && let Some(path) = simple.canonical_path()
    {
        let mut out = simple.origin();
        out.push_str(path.trim_end_matches('/'));
        return Some(out);
    }
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
    if let Some(simple) = Simple::parse(value) {
        return Some(simple.origin());
    }
    let url = url::Url::parse(value).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// The origin and path of an http(s) URL whose path `url` would keep byte for byte (no
/// query, fragment, dot segment or escape); `None` means "ask `url`".
pub fn simple_origin_and_path(value: &str) -> Option<(String, &str)> {
    let simple = Simple::parse(value)?;
    let path = simple.canonical_path()?;
    Some((simple.origin(), if path.is_empty() { "/" } else { path }))
}

/// The origin of an absolute request URI (`None` without scheme and authority).
pub fn uri_origin(uri: &http::Uri) -> Option<String> {
    let (scheme, authority) = (uri.scheme_str()?, uri.authority()?.as_str());
    let mut url = String::with_capacity(scheme.len() + authority.len() + 4);
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(authority);
    url.push('/');
    origin_of(&url)
}

/// An http(s) URL that is already in the form the WHATWG parser (`url`) would give it,
/// split without allocating. These helpers run several times per request (request
/// origin, `aud` claims, resource ids), and the values they see are nearly always
/// canonical already, so they take this fast path and leave everything unusual (upper
/// case, IP literals other than canonical IPv4, IDNA, userinfo, percent-escapes, dot
/// segments, queries, whitespace) to `url`. `simple_paths_agree_with_url` checks that
/// the two agree.
struct Simple<'a> {
    scheme: &'a str,
    host: &'a str,
    /// `None` for the scheme's default port.
    port: Option<&'a str>,
    rest: &'a str,
}

impl<'a> Simple<'a> {
    fn parse(value: &'a str) -> Option<Self> {
        let (scheme, after) = if let Some(after) = value.strip_prefix("https://") {
            ("https", after)
        } else {
            ("http", value.strip_prefix("http://")?)
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if !simple_host(host) {
            return None;
        }
        let port = match port {
            None => None,
            Some(p) => {
                if p.is_empty() || p.starts_with('0') || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n: u16 = p.parse().ok()?;
                let default = if scheme == "https" { 443 } else { 80 };
                (n != default).then_some(p)
            }
        };
        Some(Self {
            scheme,
            host,
            port,
            rest,
        })
    }

    fn origin(&self) -> String {
        let mut out = String::with_capacity(self.scheme.len() + 3 + self.host.len() + 6);
        out.push_str(self.scheme);
        out.push_str("://");
        out.push_str(self.host);
        if let Some(port) = self.port {
            out.push(':');
            out.push_str(port);
        }
        out
    }

    /// The path, when `url` would keep it byte for byte (no query or fragment either).
    fn canonical_path(&self) -> Option<&'a str> {
        let plain = self.rest.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'/' | b'-'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                )
                || (b == b'.')
        });
        let dot_segment = self.rest.split('/').any(|s| s == "." || s == "..");
        (plain && !dot_segment).then_some(self.rest)
    }
}

/// A host `url` keeps as is: lowercase DNS labels (not IPv4-like, not IDNA) or a
/// canonical dotted-quad IPv4 address.
fn simple_host(host: &str) -> bool {
    if host.is_empty() {
        return false;
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let mut parts = 0;
        return host.split('.').all(|p| {
            parts += 1;
            !p.is_empty()
                && p.len() <= 3
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        }) && parts == 4;
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with("xn--")
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    // WHATWG parses a host whose last label is numeric (decimal or 0x-hex) as IPv4.
    let last = host.rsplit('.').next().unwrap_or_default();
    let numeric_last = last.bytes().all(|b| b.is_ascii_digit())
        || last.starts_with("0x")
        || last.starts_with("0X");
    labels_ok && !numeric_last
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
    fn simple_paths_agree_with_url() {
        let cases = [
            "https://example.com",
            "https://example.com/",
            "https://example.com/mcp/",
            "https://example.com:443/mcp",
            "http://example.com:80",
            "http://example.com:8080/a/b",
            "http://127.0.0.1:8787/mcp",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://a.b.0x1/",
            "http://a.123/",
            "http://a.b./x",
            "http://a..b/",
            "HTTPS://Example.COM/",
            "https://EXAMPLE.com",
            "http://xn--nxasmq6b.com/",
            "http://user@a.b/",
            "http://[::1]:9/",
            "http://a.b:0080/",
            "http://a.b:65536/",
            "http://a.b:/",
            "http://a.b/./c",
            "http://a.b/c/../d",
            "http://a.b/%7e",
            "http://a.b/x y",
            "http://a.b/?q",
            "http://a.b#f",
            "http://a.b/c?d#e",
            " http://a.b/",
            "http://a_b.c/",
            "http://a-.b/",
            "http://-a.b/",
            "http://1.2.3.4.5/",
            "http://01.2.3.4/",
            "http://256.1.1.1/",
            "http://a.b\\c/",
            "http:/a.b/",
            "http://",
            "http://:80/",
            "ftp://a.b/",
            "https://a.b/'()*+,;=:@!$&~_-.",
        ];
        for case in cases {
            let slow_origin = url::Url::parse(case).ok().and_then(|u| match u.origin() {
                url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
                url::Origin::Opaque(_) => None,
            });
            assert_eq!(origin_of(case), slow_origin, "origin of {case:?}");
            let slow_canonical = url::Url::parse(case.trim()).ok().and_then(|u| {
                if !matches!(u.scheme(), "http" | "https") {
                    return None;
                }
                let mut out = format!("{}://{}", u.scheme(), u.host_str()?);
                if let Some(port) = u.port() {
                    out.push_str(&format!(":{port}"));
                }
                out.push_str(u.path().trim_end_matches('/'));
                Some(out)
            });
            assert_eq!(
                canonical_resource(case),
                slow_canonical,
                "canonical {case:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn simple_paths_agree_with_url_on_generated_urls(
            scheme in "(http|https|HTTP)",
            host in "[a-zA-Z0-9.\\-_]{0,12}",
            port in proptest::option::of("[0-9]{0,6}"),
            path in "[a-zA-Z0-9/._~%?#@:;= -]{0,12}",
        ) {
            let case = match port {
                Some(port) => format!("{scheme}://{host}:{port}{path}"),
                None => format!("{scheme}://{host}{path}"),
            };
            let slow_origin = url::Url::parse(&case).ok().and_then(|u| match u.origin() {
                url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
                url::Origin::Opaque(_) => None,
            });
            proptest::prop_assert_eq!(origin_of(&case), slow_origin, "origin of {:?}", case);
            let slow_canonical = url::Url::parse(case.trim()).ok().and_then(|u| {
                let mut out = format!("{}://{}", u.scheme(), u.host_str()?);
                if let Some(port) = u.port() {
                    out.push_str(&format!(":{port}"));
                }
                out.push_str(u.path().trim_end_matches('/'));
                Some(out)
            });
            proptest::prop_assert_eq!(canonical_resource(&case), slow_canonical, "canonical {:?}", case);
        }
    }

    #[test]
    fn request_uri_origins() {
        let uri: http::Uri = "http://127.0.0.1:8787/mcp?x".parse().unwrap();
        assert_eq!(uri_origin(&uri).as_deref(), Some("http://127.0.0.1:8787"));
        let uri: http::Uri = "HTTPS://Mcp.Example.com:443/mcp".parse().unwrap();
        assert_eq!(uri_origin(&uri).as_deref(), Some("https://mcp.example.com"));
        let uri: http::Uri = "/mcp".parse().unwrap();
        assert_eq!(uri_origin(&uri), None);
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
