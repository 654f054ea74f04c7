//! Arbitrary chunks into the SSE parser: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut parser = mcp_edge_core::transport::sse::SseParser::new();
    for chunk in data.chunks(7) {
        let _ = parser.feed(chunk);
    }
});
