//! Cursors for the list methods (`tools/list`, `resources/list`,
//! `resources/templates/list`, `prompts/list`).
//!
//! Lists are served in pages of [`PAGE_SIZE`]. A cursor is opaque to clients and
//! stateless here: the base64url form of `<list>:<offset>`, so a cursor of one list is
//! refused by another. A cursor that does not decode, names another list, or points
//! past the end is -32602 (invalid params). The registries are fixed when the server is
//! built, so an offset stays meaningful across requests and isolates.

use std::ops::Range;

use base64::Engine as _;
use serde_json::Value;

use super::jsonrpc::RpcError;

/// Entries per page.
pub const PAGE_SIZE: usize = 50;

fn engine() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// The cursor of the page of `list` starting at `offset`.
pub fn encode(list: &str, offset: usize) -> String {
    engine().encode(format!("{list}:{offset}"))
}

/// The range of the page `cursor` asks for in a list of `len` entries called `list`,
/// and the cursor of the next page, if any.
pub fn page(
    list: &str,
    len: usize,
    cursor: Option<&Value>,
) -> Result<(Range<usize>, Option<String>), RpcError> {
    let start = match cursor {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => decode(list, c, len).ok_or_else(|| {
            RpcError::InvalidParams(format!(
                "invalid cursor {:?}: pass back a nextCursor from a previous {list}/list result",
                c.chars().take(64).collect::<String>()
            ))
        })?,
        Some(_) => {
            return Err(RpcError::InvalidParams(
                "params.cursor must be a string".into(),
            ));
        }
    };
    let end = (start + PAGE_SIZE).min(len);
    let next = (end < len).then(|| encode(list, end));
    Ok((start..end, next))
}

fn decode(list: &str, cursor: &str, len: usize) -> Option<usize> {
    let bytes = engine().decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, offset) = text.split_once(':')?;
    if kind != list || offset.starts_with('+') {
        return None;
    }
    let offset: usize = offset.parse().ok()?;
    (offset > 0 && offset < len && offset.is_multiple_of(PAGE_SIZE)).then_some(offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_and_cursors() {
        let (r, next) = page("tools", 3, None).unwrap();
        assert_eq!((r, next), (0..3, None));
        let (r, next) = page("tools", 120, None).unwrap();
        assert_eq!(r, 0..50);
        let next = next.unwrap();
        let (r, next2) = page("tools", 120, Some(&json!(next))).unwrap();
        assert_eq!(r, 50..100);
        let (r, last) = page("tools", 120, Some(&json!(next2.unwrap()))).unwrap();
        assert_eq!((r, last), (100..120, None));
        assert_eq!(page("tools", 0, Some(&Value::Null)).unwrap().0, 0..0);
    }

    #[test]
    fn bad_cursors_are_invalid_params() {
        for bad in [
            json!("x"),
            json!(encode("prompts", 50)),
            json!(encode("tools", 49)),
            json!(encode("tools", 500)),
            json!(encode("tools", 0)),
            json!(engine().encode("tools:+50")),
            json!(7),
        ] {
            assert_eq!(
                page("tools", 120, Some(&bad)).unwrap_err().code(),
                -32602,
                "{bad}"
            );
        }
    }
}
