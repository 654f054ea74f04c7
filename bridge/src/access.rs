//! Command-line forms of the gateway's access settings: API key entries and rate limits.

use mcp_edge_core::auth::{ApiKeyEntry, KeyHash};
use mcp_edge_core::ratelimit::RateLimit;

/// Parses `PER_MINUTE/BURST`, e.g. `600/60`.
pub fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let (rate, burst) = text
        .split_once('/')
        .ok_or("rate limit must look like PER_MINUTE/BURST, e.g. 600/60")?;
    let per_minute = rate
        .trim()
        .parse()
        .map_err(|_| format!("bad rate in {text}"))?;
    let burst = burst
        .trim()
        .parse()
        .map_err(|_| format!("bad burst in {text}"))?;
    Ok(RateLimit { per_minute, burst })
}

/// Parses `NAME=sha256:SALT:DIGEST[:ro][:tools=PAT+PAT][:rate=PER_MINUTE/BURST]`.
pub fn parse_api_key(text: &str) -> Result<ApiKeyEntry, String> {
    let (name, rest) = text.split_once('=').ok_or(
        "API key entry must look like NAME=sha256:SALT:DIGEST[:ro][:tools=a*+b][:rate=60/10]",
    )?;
    let parts: Vec<&str> = rest.trim().split(':').collect();
    if parts.len() < 3 {
        return Err(format!(
            "API key {name}: hash must be sha256:SALT:DIGEST (from `mcp-edge hash-key`)"
        ));
    }
    let hash = KeyHash::parse(&parts[..3].join(":")).map_err(|e| format!("API key {name}: {e}"))?;
    let mut entry = ApiKeyEntry {
        name: name.trim().to_owned(),
        hash,
        read_only: false,
        tools: None,
        rate_limit: None,
    };
    for opt in &parts[3..] {
        match opt.split_once('=') {
            None if *opt == "ro" || *opt == "read-only" => entry.read_only = true,
            Some(("tools", pats)) => {
                entry.tools = Some(pats.split('+').map(str::to_owned).collect())
            }
            Some(("rate", r)) => entry.rate_limit = Some(parse_rate(r)?),
            _ => return Err(format!("API key {name}: unknown option {opt}")),
        }
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries() {
        let hash = KeyHash::new("k", b"saltsalt").to_string();
        let e = parse_api_key(&format!(
            "ci={hash}:ro:tools=jira_*+gitlab_get_file:rate=60/5"
        ))
        .unwrap();
        assert_eq!(e.name, "ci");
        assert!(e.read_only && e.hash.verify("k"));
        assert_eq!(e.tools.unwrap(), vec!["jira_*", "gitlab_get_file"]);
        assert_eq!(
            e.rate_limit,
            Some(RateLimit {
                per_minute: 60,
                burst: 5
            })
        );
        assert!(parse_api_key("nohash").is_err());
        assert!(parse_api_key(&format!("x={hash}:bogus")).is_err());
        assert!(parse_rate("10").is_err());
    }
}
