//! The SSRF guard: every header-supplied upstream URL passes here before a request is built.
//!
//! Rules, in order: the URL parses and carries no user info; the scheme is `https` (plain `http`
//! only for hosts in `allow_http`); the host is on the allow-list when one is configured; and the
//! host is not a loopback, private, link-local, CGNAT, multicast, reserved or cloud-metadata
//! address (unless in `allow_private`). IP spellings are normalized by the WHATWG URL parser, so
//! `http://2130706433`, `http://0x7f.1` and `http://[::ffff:127.0.0.1]` are all seen as loopback.
//! Hostnames are re-checked after DNS resolution by the native client (see [`forbidden_address`]).
//!
//! IPv6 spellings that carry an IPv4 address are judged by that address: IPv4-mapped
//! (`::ffff:a.b.c.d`) and IPv4-translated (`::ffff:0:a.b.c.d`) ones take its verdict; the transition
//! forms (IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and the local-use `64:ff9b:1::/48`, 6to4
//! `2002::/16`, Teredo `2001::/32` whose client address is XOR-ed into the last 32 bits) are refused
//! whatever they embed, named after the refused IPv4 class when there is one: a SaaS upstream is
//! reached by its name, never through a tunnel or translator spelling.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// A host pattern: `example.com`, `*.example.com` (any subdomain), `*` (any host), or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    /// Parses one pattern; IPv6 literals may be bracketed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().trim_start_matches('[').trim_end_matches(']');
        if t.is_empty() {
            return Err("empty host pattern".into());
        }
        let rest = t.strip_prefix("*.").unwrap_or(t);
        if t != "*" && rest.contains(['/', ':', '@', '*', ' ']) && rest.parse::<IpAddr>().is_err() {
            return Err(format!("invalid host pattern '{text}'"));
        }
        Ok(HostPattern(t.to_ascii_lowercase()))
    }

    /// Parses a comma-separated list.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Self::parse)
            .collect()
    }

    /// Whether `host` (lower-case, IPv6 without brackets) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self.0 == "*" {
            return true;
        }
        match self.0.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
            None => self.0 == host,
        }
    }
}

/// Guard configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardConfig {
    /// When non-empty, only these hosts may be reached (`MCP_EDGE_UPSTREAM_ALLOWLIST`).
    pub allowlist: Vec<HostPattern>,
    /// Hosts that may be reached over plain `http` (`MCP_EDGE_UPSTREAM_ALLOW_HTTP`).
    pub allow_http: Vec<HostPattern>,
    /// Hosts that may resolve to loopback/private/reserved addresses (`MCP_EDGE_UPSTREAM_ALLOW_PRIVATE`).
    pub allow_private: Vec<HostPattern>,
}

/// Why the guard refused a URL; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a URL.
    #[error("'{0}' is not a valid absolute URL")]
    Malformed(String),
    /// `user:password@` in the URL.
    #[error("upstream URLs must not carry user info (send credentials in headers)")]
    UserInfo,
    /// Scheme other than https (or http where allowed).
    #[error("scheme '{scheme}' refused for {host}: upstream URLs must use https (plain http only for hosts in MCP_EDGE_UPSTREAM_ALLOW_HTTP)")]
    Scheme {
        /// The scheme.
        scheme: String,
        /// The host.
        host: String,
    },
    /// Host not on the configured allow-list.
    #[error("host {0} is not in the upstream allow-list (MCP_EDGE_UPSTREAM_ALLOWLIST)")]
    NotAllowlisted(String),
    /// A forbidden address class.
    #[error("host {host} is {} {class} address, which is refused to prevent server-side request forgery (allow it with MCP_EDGE_UPSTREAM_ALLOW_PRIVATE)", article(class))]
    Address {
        /// The host as written after normalization.
        host: String,
        /// Address class, e.g. "loopback".
        class: &'static str,
    },
}

/// The guard itself.
#[derive(Debug, Clone, Default)]
pub struct UpstreamGuard {
    config: GuardConfig,
}

impl UpstreamGuard {
    /// A guard with `config`.
    pub fn new(config: GuardConfig) -> Self {
        UpstreamGuard { config }
    }

    /// The configuration.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Checks a URL; returns it parsed when allowed.
    pub fn check(&self, text: &str) -> Result<Url, Refusal> {
        let url = Url::parse(text.trim()).map_err(|_| Refusal::Malformed(text.to_owned()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::UserInfo);
        }
        let host = url
            .host()
            .ok_or_else(|| Refusal::Malformed(text.to_owned()))?;
        let host_text = match &host {
            Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        let matches_any = |list: &[HostPattern]| list.iter().any(|p| p.matches(&host_text));
        match url.scheme() {
            "https" => {}
            "http" if matches_any(&self.config.allow_http) => {}
            other => {
                return Err(Refusal::Scheme {
                    scheme: other.to_owned(),
                    host: host_text,
                })
            }
        }
        if !self.config.allowlist.is_empty() && !matches_any(&self.config.allowlist) {
            return Err(Refusal::NotAllowlisted(host_text));
        }
        if !matches_any(&self.config.allow_private) {
            let class = match host {
                Host::Ipv4(ip) => forbidden_address(IpAddr::V4(ip)),
                Host::Ipv6(ip) => forbidden_address(IpAddr::V6(ip)),
                Host::Domain(_) => forbidden_name(&host_text),
            };
            if let Some(class) = class {
                return Err(Refusal::Address {
                    host: host_text,
                    class,
                });
            }
        }
        Ok(url)
    }

    /// Whether a resolved address may be connected to for `host` (used after DNS resolution).
    pub fn address_allowed(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        let host = host.to_ascii_lowercase();
        if self.config.allow_private.iter().any(|p| p.matches(&host)) {
            return Ok(());
        }
        match forbidden_address(ip) {
            Some(class) => Err(Refusal::Address {
                host: format!("{host} ({ip})"),
                class,
            }),
            None => Ok(()),
        }
    }
}

/// Names that always mean an internal target.
fn forbidden_name(host: &str) -> Option<&'static str> {
    if host == "localhost" || host.ends_with(".localhost") {
        Some("loopback")
    } else if host == "metadata.google.internal" || host == "metadata" {
        Some("cloud metadata")
    } else {
        None
    }
}

/// The class of a forbidden address, or `None` for a public unicast address.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (169, 254, 169) if ip.octets()[3] == 254 => "cloud metadata",
        (100, 100, 100) if ip.octets()[3] == 200 => "cloud metadata",
        (0, ..) => "unspecified",
        (127, ..) => "loopback",
        (10, ..) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "CGNAT (shared address space)",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved",
        (198, 18..=19, _) => "reserved",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

/// The indefinite article for an address class ("an unspecified", "a loopback", "an IPv4-…").
fn article(class: &str) -> &'static str {
    match class.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// The IPv4 address in bits `at..at + 32` of `ip`.
fn v4_at(ip: Ipv6Addr, at: usize) -> Ipv4Addr {
    let bits = u128::from(ip);
    Ipv4Addr::from(((bits >> (96 - at)) & 0xffff_ffff) as u32)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    // IPv4-mapped (::ffff:0:0/96) and IPv4-translated (::ffff:0:0:0/96) addresses are the IPv4 host.
    if seg[..6] == [0, 0, 0, 0, 0, 0xffff] || seg[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return forbidden_v4(v4_at(ip, 96));
    }
    // Transition spellings: refused, named after the embedded IPv4 class when that one is refused.
    let (embedded, form): (&[Ipv4Addr], &'static str) = match seg {
        // IPv4-compatible (::a.b.c.d, deprecated by RFC 4291).
        [0, 0, 0, 0, 0, 0, ..] => (&[v4_at(ip, 96)], "IPv4-compatible"),
        // NAT64 well-known prefix (RFC 6052): the IPv4 address is the last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => (&[v4_at(ip, 96)], "NAT64"),
        // NAT64 local-use prefix (RFC 8215): where the IPv4 address sits depends on the operator's
        // prefix length (/48 to /96), so no decoding is reliable and every spelling is refused.
        [0x64, 0xff9b, 1, ..] => (&[], "NAT64 local-use"),
        // 6to4 (RFC 3056): 2002:AABB:CCDD::/48 routes to AA.BB.CC.DD.
        [0x2002, ..] => (&[v4_at(ip, 16)], "6to4"),
        // Teredo (RFC 4380): server address in bits 32..64, client address XOR-ed in the last 32.
        [0x2001, 0, ..] => (
            &[Ipv4Addr::from(!u32::from(v4_at(ip, 96))), v4_at(ip, 32)],
            "Teredo",
        ),
        _ => (&[], ""),
    };
    if !form.is_empty() {
        return embedded
            .iter()
            .find_map(|v4| forbidden_v4(*v4))
            .or(Some(form));
    }
    match seg[0] {
        0xfd00 if seg[1] == 0x0ec2 => Some("cloud metadata"),
        s if s & 0xfe00 == 0xfc00 => Some("private (unique local)"),
        s if s & 0xffc0 == 0xfe80 => Some("link-local"),
        s if s & 0xffc0 == 0xfec0 => Some("site-local"),
        s if s & 0xff00 == 0xff00 => Some("multicast"),
        0x2001 if seg[1] == 0x0db8 => Some("reserved (documentation)"),
        0x0100 if seg[1..4] == [0, 0, 0] => Some("reserved (discard-only)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> UpstreamGuard {
        UpstreamGuard::default()
    }

    #[test]
    fn refuses_internal_targets_in_every_spelling() {
        for (url, class) in [
            ("http://127.0.0.1", None),
            ("https://127.0.0.1", Some("loopback")),
            ("https://2130706433", Some("loopback")),
            ("https://0x7f.1", Some("loopback")),
            ("https://017700000001", Some("loopback")),
            ("https://[::1]", Some("loopback")),
            ("https://[::ffff:127.0.0.1]", Some("loopback")),
            ("https://[::ffff:a9fe:a9fe]", Some("cloud metadata")),
            (
                "https://169.254.169.254/latest/meta-data",
                Some("cloud metadata"),
            ),
            ("https://[fd00:ec2::254]", Some("cloud metadata")),
            ("https://10.1.2.3", Some("private")),
            ("https://172.20.0.1", Some("private")),
            ("https://192.168.1.1", Some("private")),
            ("https://100.64.0.1", Some("CGNAT (shared address space)")),
            ("https://224.0.0.1", Some("multicast")),
            ("https://0.0.0.0", Some("unspecified")),
            ("https://[fe80::1]", Some("link-local")),
            ("https://[fc00::1]", Some("private (unique local)")),
            ("https://[64:ff9b::7f00:1]", Some("loopback")),
            ("https://localhost", Some("loopback")),
            ("https://metadata.google.internal", Some("cloud metadata")),
        ] {
            let err = guard().check(url).unwrap_err();
            match class {
                None => assert!(matches!(err, Refusal::Scheme { .. }), "{url}: {err}"),
                Some(c) => assert!(
                    matches!(&err, Refusal::Address { class, .. } if *class == c),
                    "{url}: {err}"
                ),
            }
        }
    }

    /// Every IPv6 transition spelling of every refused IPv4 range is refused with that range's class.
    #[test]
    fn refuses_ipv6_transition_spellings_of_refused_ipv4_ranges() {
        let v4s: [(Ipv4Addr, &str); 17] = [
            (Ipv4Addr::new(0, 0, 0, 0), "unspecified"),
            (Ipv4Addr::new(0, 1, 2, 3), "unspecified"),
            (Ipv4Addr::new(127, 0, 0, 1), "loopback"),
            (Ipv4Addr::new(127, 255, 0, 9), "loopback"),
            (Ipv4Addr::new(10, 0, 0, 1), "private"),
            (Ipv4Addr::new(172, 16, 0, 1), "private"),
            (Ipv4Addr::new(192, 168, 1, 1), "private"),
            (Ipv4Addr::new(169, 254, 169, 254), "cloud metadata"),
            (Ipv4Addr::new(100, 100, 100, 200), "cloud metadata"),
            (Ipv4Addr::new(169, 254, 1, 1), "link-local"),
            (Ipv4Addr::new(100, 64, 0, 1), "CGNAT (shared address space)"),
            (Ipv4Addr::new(192, 0, 2, 1), "reserved"),
            (Ipv4Addr::new(198, 18, 0, 1), "reserved"),
            (Ipv4Addr::new(203, 0, 113, 5), "reserved"),
            (Ipv4Addr::new(224, 0, 0, 1), "multicast"),
            (Ipv4Addr::new(240, 0, 0, 1), "reserved"),
            (Ipv4Addr::new(255, 255, 255, 255), "reserved"),
        ];
        for (v4, class) in v4s {
            let n = u128::from(u32::from(v4));
            let spellings = [
                ("IPv4-mapped", n | (0xffff << 32)),
                ("IPv4-translated", n | (0xffff << 48)),
                ("IPv4-compatible", n),
                ("NAT64", n | (0x0064_ff9b << 96)),
                ("NAT64 local-use", n | (0x0064_ff9b_0001 << 80)),
                ("6to4", (0x2002 << 112) | (n << 80) | 1),
                (
                    "Teredo",
                    (0x2001_0000 << 96) | (0x4136_e378 << 64) | (0x8000 << 48) | (!n & 0xffff_ffff),
                ),
            ];
            for (form, bits) in spellings {
                let ip = Ipv6Addr::from(bits);
                let expected = if form == "NAT64 local-use" {
                    form
                } else {
                    class
                };
                assert_eq!(
                    forbidden_address(IpAddr::V6(ip)),
                    Some(expected),
                    "{form} spelling {ip} of {v4}"
                );
                let url = format!("https://[{ip}]/api/v4");
                let err = guard().check(&url).unwrap_err();
                assert!(
                    matches!(&err, Refusal::Address { class: c, .. } if *c == expected),
                    "{url}: {err}"
                );
            }
        }
        // The example, spelled as written.
        assert_eq!(
            forbidden_address("2002:7f00:1::".parse().unwrap()),
            Some("loopback")
        );
        // Teredo's server field is checked too.
        assert_eq!(
            forbidden_address("2001:0:a00:1::f7f7:f7f7".parse().unwrap()),
            Some("private")
        );
        // Transition spellings of public addresses are refused under the form's own name; the
        // IPv4-mapped spelling of a public address is that address and stays allowed.
        for (ip, class) in [
            ("::8.8.8.8", Some("IPv4-compatible")),
            ("64:ff9b::808:808", Some("NAT64")),
            ("64:ff9b:1:808:8:800::", Some("NAT64 local-use")),
            ("2002:808:808::1", Some("6to4")),
            ("2001:0:808:808::f7f7:f7f7", Some("Teredo")),
            ("::ffff:8.8.8.8", None),
            ("2606:4700::1111", None),
            ("100::1", Some("reserved (discard-only)")),
        ] {
            assert_eq!(forbidden_address(ip.parse().unwrap()), class, "{ip}");
        }
    }

    #[test]
    fn messages_use_the_right_article() {
        let msg = |url: &str| guard().check(url).unwrap_err().to_string();
        assert!(msg("https://0.0.0.0").contains("is an unspecified address"));
        assert!(msg("https://127.0.0.1").contains("is a loopback address"));
        assert!(msg("https://[::8.8.8.8]").contains("is an IPv4-compatible address"));
        assert!(msg("https://[2002:808:808::1]").contains("is a 6to4 address"));
        assert!(msg("https://[2001:0:808:808::f7f7:f7f7]").contains("is a Teredo address"));
        for class in [
            "unspecified",
            "loopback",
            "private",
            "link-local",
            "cloud metadata",
            "multicast",
            "reserved",
            "CGNAT (shared address space)",
            "site-local",
            "IPv4-compatible",
            "NAT64",
            "6to4",
            "Teredo",
        ] {
            let expected = if "aeiouAEIOU".contains(&class[..1]) {
                "an"
            } else {
                "a"
            };
            assert_eq!(article(class), expected, "{class}");
        }
    }

    #[test]
    fn accepts_public_https_and_configured_exceptions() {
        assert!(guard().check("https://gitlab.com/api/v4").is_ok());
        assert!(guard().check("https://8.8.8.8").is_ok());
        assert_eq!(
            guard().check("https://user:pw@gitlab.com"),
            Err(Refusal::UserInfo)
        );
        assert!(matches!(
            guard().check("ftp://gitlab.com"),
            Err(Refusal::Scheme { .. })
        ));
        assert!(matches!(
            guard().check("not a url"),
            Err(Refusal::Malformed(_))
        ));
        let local = UpstreamGuard::new(GuardConfig {
            allow_http: HostPattern::parse_list("127.0.0.1").unwrap(),
            allow_private: HostPattern::parse_list("127.0.0.1").unwrap(),
            ..GuardConfig::default()
        });
        assert!(local.check("http://127.0.0.1:9000/api/v4").is_ok());
        // Other loopback spellings of other addresses stay refused.
        assert!(local.check("http://127.0.0.2").is_err());
        let listed = UpstreamGuard::new(GuardConfig {
            allowlist: HostPattern::parse_list("*.atlassian.net, gitlab.com").unwrap(),
            ..GuardConfig::default()
        });
        assert!(listed.check("https://acme.atlassian.net").is_ok());
        assert!(listed.check("https://gitlab.com").is_ok());
        assert_eq!(
            listed.check("https://atlassian.net"),
            Err(Refusal::NotAllowlisted("atlassian.net".into()))
        );
        assert_eq!(
            listed.check("https://evil.com"),
            Err(Refusal::NotAllowlisted("evil.com".into()))
        );
    }

    #[test]
    fn resolved_addresses_are_rechecked() {
        let g = guard();
        assert!(g
            .address_allowed("rebind.example", "127.0.0.1".parse().unwrap())
            .is_err());
        assert!(g
            .address_allowed("gitlab.com", "172.65.251.78".parse().unwrap())
            .is_ok());
    }

    proptest::proptest! {
        #[test]
        fn guard_never_panics(s in ".{0,80}") {
            let _ = guard().check(&s);
            let _ = HostPattern::parse(&s);
        }
    }
}
