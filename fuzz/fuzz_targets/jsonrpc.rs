//! The JSON-RPC / MCP message parser: any body yields a message or a JSON-RPC error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keycard_core::mcp::jsonrpc::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keycard_core::mcp::version::decode_header_value(text);
    }
});
