//! The conformance suite's fixture server as a Worker: `conformance_server`'s tools,
//! resources, template and prompts, served by `keycard-worker` under workerd exactly as
//! any user's Worker serves theirs (`scripts/test.d/36-conformance-workerd`).
#![cfg(target_arch = "wasm32")]

// Script startup (build the gateway, compile the request paths) and the `fetch` handler.
keycard_worker::entry!(conformance_server::conformance_server);
