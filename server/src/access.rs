//! Command-line forms of the gateway's access settings: the core's parsers, as clap value parsers.

pub use mcp_edge_core::settings::{parse_api_key, parse_rate};
