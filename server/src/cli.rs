//! The command line, derived from the core's one table of settings
//! ([`mcp_edge_core::settings::table`]): every native setting with a flag becomes a global `--flag`
//! with its `MCP_EDGE_*` variable as clap's `env`, its default and its doc line as help. What clap
//! parsed is handed to [`Settings::from_vars`] as variables, so the native binary reads its settings
//! through the same reader as the Worker and the Lambda.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::builder::{BoolishValueParser, ValueParser};
use clap::{Arg, ArgAction, ArgMatches, Command};
use mcp_edge_core::settings::table::{self, AnySetting, Shape};
use mcp_edge_core::settings::{Settings, Target};

use crate::stdio;

/// Subcommands, with their help.
const SUBCOMMANDS: [(&str, &str); 4] = [
    (
        "hash-key",
        "Prints the salted hash of an API key for `--api-key` (generates a key when none is given)",
    ),
    (
        "stdio",
        "Serves the connectors (and test tools with `--enable-test-tools`) as an MCP server on stdin and stdout for desktop clients: credentials from the environment, logs on stderr, no port bound",
    ),
    (
        "health",
        "Exits 0 when the gateway listening on `--bind` (on loopback) answers `GET /health` with 200, 1 otherwise (the container's `HEALTHCHECK`)",
    ),
    (
        "settings",
        "Prints every setting: flag, variable, default, targets and meaning (`--json`: the table as JSON)",
    ),
];

/// The clap argument of one setting.
fn arg(setting: &'static dyn AnySetting, flag: &'static str) -> Arg {
    let spec = setting.spec();
    let mut arg = Arg::new(spec.var)
        .long(flag)
        .env(spec.var)
        .help(spec.doc)
        .global(true)
        .value_name(flag.to_ascii_uppercase().replace('-', "_"))
        .hide(spec.hidden)
        .hide_env_values(spec.secret);
    // Each value is checked by the setting's own parser as clap reads it, so a bad flag is reported
    // by clap naming the flag (a list's items one by one: one item is a list of one).
    let check = ValueParser::new(move |v: &str| setting.check(v).map(|()| v.to_owned()));
    arg = match spec.shape {
        Shape::Switch => arg
            .action(ArgAction::SetTrue)
            .value_parser(BoolishValueParser::new()),
        Shape::Value => arg.action(ArgAction::Set).value_parser(check),
        Shape::List(sep) => arg
            .action(ArgAction::Append)
            .value_delimiter(sep)
            .value_parser(check),
    };
    match spec.default {
        Some(default) => arg.default_value(default),
        None => arg,
    }
}

/// The `mcp-edge` command: its subcommands and one flag per native setting of the table.
pub fn command() -> Command {
    let mut cmd = Command::new("mcp-edge")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Serve MCP tools over Streamable HTTP, SSE and WebSocket");
    for (name, about) in SUBCOMMANDS {
        let mut sub = Command::new(name).about(about);
        if name == "hash-key" {
            sub = sub.arg(Arg::new("key").help("The key to hash; omit to generate a random one"));
        }
        if name == "settings" {
            sub = sub.arg(
                Arg::new("json")
                    .long("json")
                    .action(ArgAction::SetTrue)
                    .help("Print the table as JSON"),
            );
        }
        cmd = cmd.subcommand(sub);
    }
    for setting in table::ALL.iter().copied() {
        let spec = setting.spec();
        if let (true, Some(flag)) = (spec.targets.native, spec.flag) {
            cmd = cmd.arg(arg(setting, flag));
        }
    }
    cmd
}

/// What the command line says, as variables: each flagged setting's value (from its flag, its
/// variable or its default; a list joined with its separator, a switch as `true`), and any other
/// variable (variable-only settings, upstream credential fallbacks) from the environment.
pub fn lookup(matches: &ArgMatches) -> impl Fn(&str) -> Option<String> {
    let mut given: HashMap<&'static str, Option<String>> = HashMap::new();
    for spec in table::for_target(Target::Native) {
        if spec.flag.is_none() {
            continue;
        }
        let value = match spec.shape {
            Shape::Switch => matches.get_flag(spec.var).then(|| "true".to_owned()),
            Shape::Value => matches.get_one::<String>(spec.var).cloned(),
            Shape::List(sep) => matches
                .get_many::<String>(spec.var)
                .map(|items| items.cloned().collect::<Vec<_>>().join(&sep.to_string())),
        };
        given.insert(spec.var, value);
    }
    move |name| match given.get(name) {
        Some(value) => value.clone(),
        None => std::env::var(name).ok(),
    }
}

/// The native binary's configuration: the core's [`Settings`] and the native-only ones, all read
/// through the table.
#[derive(Debug)]
pub struct Cli {
    /// The settings every target shares.
    pub settings: Settings,
    /// `--bind`.
    pub bind: SocketAddr,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--header-timeout`, `--idle-timeout`, `--body-timeout`, `--body-min-rate`.
    pub budget: mcp_edge_core::gateway::ConnectionBudget,
    /// `--max-connections` (`None`: derived from the descriptor limit).
    pub max_connections: Option<usize>,
    /// `--ws-ping-interval`, `--ws-ping-timeout`.
    pub ws_keepalive: mcp_edge_core::gateway::WsKeepalive,
    /// `--ws-max-connections` (`None`: only `--max-connections` caps them).
    pub ws_max_connections: Option<usize>,
    /// `--shutdown-grace`.
    pub shutdown_grace: Duration,
    /// `--log-level`.
    pub log_level: String,
    /// `--log-json`.
    pub log_json: bool,
    /// `--allow-unauthenticated`.
    pub allow_unauthenticated: bool,
    /// `--stdio`.
    pub stdio: Option<String>,
    /// `--stdio-isolation`.
    pub stdio_isolation: stdio::config::Isolation,
    /// `--stdio-config`.
    pub stdio_config: Option<PathBuf>,
    /// Whether `--fingerprint-key` was given (otherwise the data dir's key, or a random one).
    pub fingerprint_key_given: bool,
    /// `--session-store` with `--redis-url` or `--dynamodb-table`.
    pub session_store: crate::shared_store::StoreChoice,
    /// `--legacy-poll` (at least 20 ms): how often a held legacy stream reads a shared outbox.
    pub legacy_poll: Duration,
}

impl Cli {
    /// Reads the configuration from parsed arguments (their variables and defaults included).
    pub fn from_matches(matches: &ArgMatches) -> anyhow::Result<Self> {
        let settings = Settings::from_vars(Target::Native, lookup(matches))?;
        let v = &settings.values;
        let ms = |s: &table::Setting<u64>| -> anyhow::Result<Duration> {
            Ok(Duration::from_millis(v.value(s)?))
        };
        Ok(Cli {
            bind: v.get(&table::BIND)?.context("--bind has a default")?,
            data_dir: v.value(&table::DATA_DIR)?.into(),
            budget: mcp_edge_core::gateway::ConnectionBudget {
                header_timeout_ms: v.value(&table::HEADER_TIMEOUT)?,
                idle_timeout_ms: v.value(&table::IDLE_TIMEOUT)?,
                body_timeout_ms: v.value(&table::BODY_TIMEOUT)?,
                body_min_rate: v.value(&table::BODY_MIN_RATE)?,
            },
            max_connections: v.get(&table::MAX_CONNECTIONS)?,
            ws_keepalive: mcp_edge_core::gateway::WsKeepalive {
                ping_every_ms: v.value(&table::WS_PING_INTERVAL)?,
                ping_timeout_ms: v.value(&table::WS_PING_TIMEOUT)?,
            },
            ws_max_connections: v.get(&table::WS_MAX_CONNECTIONS)?,
            shutdown_grace: ms(&table::SHUTDOWN_GRACE)?,
            log_level: v.value(&table::LOG_LEVEL)?,
            log_json: v.value(&table::LOG_JSON)?,
            allow_unauthenticated: v.value(&table::ALLOW_UNAUTHENTICATED)?,
            stdio: v.get(&table::STDIO)?,
            stdio_isolation: v
                .value(&table::STDIO_ISOLATION)?
                .parse()
                .map_err(anyhow::Error::msg)?,
            stdio_config: v.get(&table::STDIO_CONFIG)?.map(PathBuf::from),
            fingerprint_key_given: v.given(&table::FINGERPRINT_KEY).is_some(),
            session_store: crate::shared_store::StoreChoice::from_settings(
                &v.value(&table::SESSION_STORE)?,
                v.get(&table::REDIS_URL)?,
                v.get(&table::DYNAMODB_TABLE)?,
                v.given(&table::FINGERPRINT_KEY).is_some(),
            )?,
            legacy_poll: ms(&table::LEGACY_POLL)?.max(Duration::from_millis(20)),
            settings,
        })
    }
}

/// `mcp-edge settings`: the table as JSON, or as the README's tables.
pub fn print_settings(json: bool) {
    if json {
        println!("{}", table::json());
    } else {
        for group in table::Group::ALL {
            println!("{}", table::markdown(group));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn parse(args: &[&str]) -> Cli {
        let matches = command()
            .try_get_matches_from(std::iter::once("mcp-edge").chain(args.iter().copied()))
            .unwrap();
        Cli::from_matches(&matches).unwrap()
    }

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn bridge_servers_refresh_and_fingerprint_key_work_natively() {
        let cli = parse(&[
            "--bridge-url",
            "https://bridge.example/",
            "--bridge-servers",
            "time,everything",
            "--bridge-refresh",
            "5s",
            "--fingerprint-key",
            "k3y",
        ]);
        let bridge = cli.settings.gateway.bridge.clone().unwrap();
        assert_eq!(bridge.url, "https://bridge.example");
        assert_eq!(bridge.servers, vec!["time", "everything"]);
        assert_eq!(bridge.refresh_ms, 5_000);
        assert_eq!(cli.settings.gateway.fingerprint_key, b"k3y");
        assert!(cli.fingerprint_key_given);
        // Unset: the table's defaults, and the data dir's key.
        let cli = parse(&["--bridge-url", "https://bridge.example"]);
        let bridge = cli.settings.gateway.bridge.clone().unwrap();
        assert!(bridge.servers.is_empty());
        assert_eq!(bridge.refresh_ms, 60_000);
        assert!(!cli.fingerprint_key_given);
    }

    #[test]
    fn flags_reach_the_settings_with_the_old_defaults() {
        let cli = parse(&[]);
        assert_eq!(cli.bind.to_string(), "127.0.0.1:8787");
        assert_eq!(cli.data_dir, PathBuf::from(".mcp-edge"));
        assert_eq!(cli.budget.header_timeout_ms, 10_000);
        assert_eq!(cli.budget.body_min_rate, 1024);
        assert_eq!(cli.shutdown_grace, Duration::from_secs(20));
        // Bound to loopback: the `Host` check is on with loopback names only.
        assert_eq!(cli.settings.gateway.origins.allowed_hosts, Some(vec![]));
        assert!(cli.settings.connectors.jira && cli.settings.connectors.gitlab);
        let key = format!("a={}", mcp_edge_core::auth::KeyHash::new("k", b"saltsalt"));
        let cli = parse(&[
            "--bind",
            "0.0.0.0:0",
            "--api-key",
            &key,
            "--connectors",
            "jira",
            "--read-only",
            "--upstream-allow-http",
            "a.example",
            "--upstream-allow-http",
            "b.example",
            "stdio",
        ]);
        assert_eq!(cli.settings.gateway.origins.allowed_hosts, None);
        assert!(cli.settings.connectors.jira && !cli.settings.connectors.gitlab);
        assert!(cli.settings.gateway.policy.read_only);
        assert_eq!(cli.settings.gateway.upstream.guard.allow_http.len(), 2);
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        let err = command()
            .try_get_matches_from(["mcp-edge", "--session-ttl", "soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--session-ttl"), "{err}");
        let err = command()
            .try_get_matches_from(["mcp-edge", "--max-sessions-per-caller", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 1"), "{err}");
        // Flags of other targets' settings do not exist natively.
        assert!(command()
            .try_get_matches_from(["mcp-edge", "--lambda-invoke-mode", "BUFFERED"])
            .is_err());
        let err = command()
            .try_get_matches_from(["mcp-edge", "--session-store", "memcached"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--session-store") && err.contains("expected redb, dynamodb or redis"),
            "{err}"
        );
        // Settings that do not fit together are refused at load, the Redis password unrepeated.
        let matches = command()
            .try_get_matches_from([
                "mcp-edge",
                "--session-store",
                "redis",
                "--redis-url",
                "redis://:pw-123@h",
            ])
            .unwrap();
        let err = Cli::from_matches(&matches).unwrap_err().to_string();
        assert!(
            err.contains("--fingerprint-key") && !err.contains("pw-123"),
            "{err}"
        );
        let cli = parse(&[
            "--session-store",
            "dynamodb",
            "--dynamodb-table",
            "t",
            "--fingerprint-key",
            "k",
        ]);
        assert_eq!(
            cli.session_store,
            crate::shared_store::StoreChoice::DynamoDb { table: "t".into() }
        );
        assert_eq!(
            parse(&[]).session_store,
            crate::shared_store::StoreChoice::Redb
        );
    }

    /// The `MCP_EDGE_*` names quoted in the Rust files under `dir` (a platform reading a variable
    /// by name, outside the table).
    fn quoted_names(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                quoted_names(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Test code is not a platform reading its settings.
                let text = text.split("#[cfg(test)]").next().unwrap_or_default();
                for part in text.split("\"MCP_EDGE_").skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    if !name.is_empty() && part[name.len()..].starts_with('"') {
                        out.insert(format!("MCP_EDGE_{name}"));
                    }
                }
            }
        }
    }

    /// The names `Settings::from_vars` looks up for `target` that are settings of the table.
    fn read_by_core(target: Target) -> BTreeSet<String> {
        let asked = std::cell::RefCell::new(BTreeSet::new());
        Settings::from_vars(target, |name| {
            asked.borrow_mut().insert(name.to_owned());
            None
        })
        .unwrap();
        let asked = asked.into_inner();
        asked
            .into_iter()
            .filter(|n| table::find(n).is_some())
            .collect()
    }

    fn table_names(target: Target) -> BTreeSet<String> {
        table::for_target(target)
            .map(|s| s.var.to_owned())
            .collect()
    }

    #[test]
    fn every_target_honours_exactly_the_table_names_of_its_target() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        // Native: clap's `env` names, plus the variable-only settings the core reads; no other
        // name is read by hand.
        let mut native: BTreeSet<String> = command()
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        native.extend(read_by_core(Target::Native));
        assert_eq!(native, table_names(Target::Native));
        let mut quoted = BTreeSet::new();
        quoted_names(&root.join("server/src"), &mut quoted);
        quoted_names(&root.join("native/src"), &mut quoted);
        assert!(
            quoted.is_empty(),
            "read natively outside the table: {quoted:?}"
        );
        // Worker: the core's reader only; `[vars]` in wrangler.toml are Worker settings.
        let mut worker = read_by_core(Target::Worker);
        quoted_names(&root.join("workers/src"), &mut worker);
        assert_eq!(worker, table_names(Target::Worker));
        let wrangler = std::fs::read_to_string(root.join("wrangler.toml")).unwrap();
        let vars = wrangler
            .split("\n[vars]\n")
            .nth(1)
            .expect("wrangler.toml has [vars]");
        for line in vars.lines().take_while(|l| !l.starts_with('[')) {
            if let Some((name, _)) = line.split_once('=') {
                assert!(
                    worker.contains(name.trim()),
                    "wrangler.toml sets {name}, which the Worker does not read"
                );
            }
        }
        // Lambda: the core's reader plus the Lambda's own settings, which it reads by name.
        let mut lambda = read_by_core(Target::Lambda);
        quoted_names(&root.join("lambda/src"), &mut lambda);
        assert_eq!(lambda, table_names(Target::Lambda));
        // Terraform sets every Lambda setting but the test-only ones and the emulator's base path;
        // `SSL_CERT_FILE` goes through `extra_environment` like the credential fallbacks.
        let main_tf = std::fs::read_to_string(root.join("infra/terraform/main.tf")).unwrap();
        let terraform: BTreeSet<String> = main_tf
            .lines()
            .filter_map(|l| l.trim().split_once('='))
            .map(|(name, _)| name.trim().to_owned())
            .filter(|name| name.starts_with("MCP_EDGE_"))
            .collect();
        let mut deployed = table_names(Target::Lambda);
        for local in ["MCP_EDGE_TEST_TOOLS", "MCP_EDGE_BASE_PATH", "SSL_CERT_FILE"] {
            assert!(deployed.remove(local), "{local}");
        }
        // The standard `OTEL_*` variables are the operator's, through `extra_environment` too.
        deployed.retain(|name| !name.starts_with("OTEL_"));
        assert_eq!(terraform, deployed);
    }
}
