//! Arbitrary bytes into the JSON-RPC decoder: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mcp_edge_core::protocol::decode(data);
});
