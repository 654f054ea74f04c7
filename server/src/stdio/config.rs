//! Bridged stdio servers: the TOML file (`--stdio-config`) and the one-line `--stdio "CMD"` form.
//!
//! ```toml
//! [servers.everything]
//! command = "npx"
//! args = ["-y", "@modelcontextprotocol/server-everything"]
//! env = { LOG_LEVEL = "info" }
//! cwd = "/tmp"
//! isolation = "per-session"   # or "shared"
//! max_children = 16
//! idle_timeout = "10m"
//! request_timeout = "60s"
//! restart_budget = 5           # restarts allowed per minute before giving up
//! ping_interval = "30s"        # health check of a running child ("0s": none)
//! ping_timeout = "10s"         # a child that does not answer its ping in time is hung: restarted
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

/// How client sessions map onto child processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// One child per client session.
    #[default]
    PerSession,
    /// One child for every session; request ids are remapped so answers never cross.
    Shared,
}

impl std::str::FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "per-session" => Ok(Isolation::PerSession),
            "shared" => Ok(Isolation::Shared),
            other => Err(format!(
                "unknown isolation '{other}' (expected per-session or shared)"
            )),
        }
    }
}

/// One bridged server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Program to run (looked up on `PATH`).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Session-to-child mapping.
    #[serde(default)]
    pub isolation: Isolation,
    /// Most children at once (per-session mode: most concurrent sessions).
    #[serde(default = "default_max_children")]
    pub max_children: usize,
    /// A child with no traffic for this long is stopped (and started again on the next call).
    #[serde(default = "default_idle", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Longest wait for the answer to one request.
    #[serde(default = "default_request_timeout", deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Crashes within a minute after which the server is not started again until the minute has
    /// passed (calls fail with the last exit status meanwhile). At least 1: 1 restarts nothing.
    #[serde(default = "default_restart_budget")]
    pub restart_budget: u32,
    /// Interval of the `ping` health check of a running child (zero: no health check).
    #[serde(default = "default_ping_interval", deserialize_with = "duration")]
    pub ping_interval: Duration,
    /// A child that does not answer its `ping` within this is hung: it is killed and restarted.
    #[serde(default = "default_ping_timeout", deserialize_with = "duration")]
    pub ping_timeout: Duration,
}

fn default_max_children() -> usize {
    16
}
fn default_idle() -> Duration {
    Duration::from_secs(600)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_restart_budget() -> u32 {
    5
}
fn default_ping_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_ping_timeout() -> Duration {
    Duration::from_secs(10)
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    servers: BTreeMap<String, ServerSpec>,
}

/// Checks a server name (it becomes a URL path segment).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "server name '{name}' must be 1-64 letters, digits, '-' or '_'"
    );
    Ok(())
}

/// Reads a TOML file of `[servers.NAME]` tables.
pub fn load(path: &Path) -> anyhow::Result<BTreeMap<String, ServerSpec>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: File =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    for (name, spec) in &file.servers {
        check_name(name)?;
        anyhow::ensure!(
            !spec.command.trim().is_empty(),
            "server '{name}' has an empty command"
        );
        anyhow::ensure!(
            spec.max_children > 0,
            "server '{name}': max_children must be at least 1"
        );
        // 0 would refuse the very first start (no crash yet is already "at the budget").
        anyhow::ensure!(
            spec.restart_budget > 0,
            "server '{name}': restart_budget must be at least 1 (1: a child that crashes is not restarted for the rest of the minute)"
        );
    }
    Ok(file.servers)
}

/// The `--stdio "CMD ARGS"` form: split like a POSIX shell (quotes respected, nothing expanded).
pub fn from_command_line(line: &str, isolation: Isolation) -> anyhow::Result<ServerSpec> {
    let mut words = shell_words::split(line)
        .with_context(|| format!("cannot split the command line {line:?}"))?
        .into_iter();
    let command = words
        .next()
        .filter(|c| !c.is_empty())
        .context("--stdio needs a command")?;
    Ok(ServerSpec {
        command,
        args: words.collect(),
        env: BTreeMap::new(),
        cwd: None,
        isolation,
        max_children: default_max_children(),
        idle_timeout: default_idle(),
        request_timeout: default_request_timeout(),
        restart_budget: default_restart_budget(),
        ping_interval: default_ping_interval(),
        ping_timeout: default_ping_timeout(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_command_line_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            "[servers.time]\ncommand = \"uvx\"\nargs = [\"mcp-server-time\"]\nisolation = \"shared\"\nrequest_timeout = \"5s\"\n",
        )
        .unwrap();
        let servers = load(&path).unwrap();
        let time = &servers["time"];
        assert_eq!(time.isolation, Isolation::Shared);
        assert_eq!(time.request_timeout, Duration::from_secs(5));
        assert_eq!(time.max_children, 16);
        assert_eq!(time.ping_interval, Duration::from_secs(30));

        std::fs::write(&path, "[servers.\"bad name\"]\ncommand = \"x\"\n").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("must be"));
        std::fs::write(&path, "[servers.a]\ncommand = \"x\"\ncolour = 1\n").unwrap();
        assert!(format!("{:#}", load(&path).unwrap_err()).contains("unknown field"));
        std::fs::write(&path, "[servers.a]\ncommand = \"x\"\nrestart_budget = 0\n").unwrap();
        assert!(load(&path)
            .unwrap_err()
            .to_string()
            .contains("restart_budget must be at least 1"));

        let spec = from_command_line(
            "npx -y '@scope/server two' --flag=\"a b\"",
            Isolation::PerSession,
        )
        .unwrap();
        assert_eq!(spec.command, "npx");
        assert_eq!(spec.args, vec!["-y", "@scope/server two", "--flag=a b"]);
        assert!(from_command_line("  ", Isolation::Shared).is_err());
        assert!(from_command_line("npx 'unterminated", Isolation::Shared).is_err());
    }
}
