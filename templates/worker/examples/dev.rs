//! The offline dev server for your tools: `cargo run --example dev`, natively, with no
//! account and no network. It serves `app()` at `http://127.0.0.1:8787/mcp` behind an
//! embedded mock Keycard zone (its upstream stands in for every upstream your tools
//! declare) and prints how to connect an MCP client and get tokens. Ctrl-C stops it.

#[tokio::main]
async fn main() -> Result<(), emulator::serve::ServeError> {
    emulator::serve::run({{crate_name}}::app()).await
}
