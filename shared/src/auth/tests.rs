use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use futures::executor::block_on;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;

use super::*;
use crate::port::{BoxFuture, UpstreamError};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "https://mcp.test/mcp";
const NOW_MS: u64 = 1_800_000_000_000;

struct Issuer {
    keys: Vec<(String, p256::SecretKey)>,
    fetches: AtomicUsize,
    published: usize,
}

impl Issuer {
    fn new() -> Arc<Self> {
        let keys = (1..=2u8)
            .map(|i| {
                (
                    format!("k{i}"),
                    p256::SecretKey::from_slice(&[i; 32]).unwrap(),
                )
            })
            .collect();
        Arc::new(Issuer {
            keys,
            fetches: AtomicUsize::new(0),
            published: 1,
        })
    }

    fn jwks(&self) -> Value {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let keys: Vec<Value> = self.keys[..self.published]
            .iter()
            .map(|(kid, sk)| {
                let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                    &sk.public_key(),
                    false,
                );
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                       "x": b64.encode(point.x().unwrap()), "y": b64.encode(point.y().unwrap())})
            })
            .collect();
        json!({ "keys": keys })
    }

    fn token(&self, key_index: usize, claims: Value) -> String {
        let (kid, sk) = &self.keys[key_index];
        let der = sk.to_pkcs8_der().unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.clone());
        encode(&header, &claims, &EncodingKey::from_ec_der(der.as_bytes())).unwrap()
    }
}

impl HttpClient for Issuer {
    fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        assert_eq!(req.uri(), "https://issuer.test/jwks.json");
        let body = Bytes::from(self.jwks().to_string());
        Box::pin(async move { Ok(http::Response::new(body)) })
    }
}

fn oauth() -> OAuthSettings {
    OAuthSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_uri: "https://issuer.test/jwks.json".into(),
        authorization_servers: vec![ISSUER.into()],
        leeway_secs: 30,
        read_scope: "mcp:read".into(),
        write_scope: "mcp:write".into(),
    }
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": NOW_MS / 1000 + 600, "scope": "mcp:read mcp:write"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn bearer(token: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    h
}

#[test]
fn key_hashes_round_trip_and_verify() {
    let h = KeyHash::new("s3cret-key", b"0123456789abcdef");
    let text = h.to_string();
    assert!(text.starts_with("sha256:"));
    assert!(!text.contains("s3cret"));
    let parsed = KeyHash::parse(&text).unwrap();
    assert!(parsed.verify("s3cret-key"));
    assert!(!parsed.verify("s3cret-kez"));
    assert!(!parsed.verify(""));
    assert!(KeyHash::parse("md5:00:11").is_err());
    assert!(KeyHash::parse("sha256:zz:11").is_err());
    assert_eq!(format!("{h:?}"), "KeyHash(..)");
}

#[test]
fn api_keys_from_either_header() {
    let auth = Authenticator::new(AuthConfig {
        api_keys: vec![ApiKeyEntry {
            name: "ci".into(),
            hash: KeyHash::new("k-123", b"saltsalt"),
            read_only: true,
            tools: Some(vec!["jira_*".into()]),
            rate_limit: None,
        }],
        ..AuthConfig::default()
    });
    let issuer = Issuer::new();
    let mut h = http::HeaderMap::new();
    assert_eq!(
        block_on(auth.authenticate(&h, issuer.as_ref(), NOW_MS, "127.0.0.1")),
        Err(AuthError::Missing)
    );
    h.insert("x-api-key", "k-123".parse().unwrap());
    let caller = block_on(auth.authenticate(&h, issuer.as_ref(), NOW_MS, "127.0.0.1")).unwrap();
    assert_eq!(caller.name, "ci");
    assert!(caller.read_only);
    assert!(caller.allows_tool("jira_search") && !caller.allows_tool("gitlab_get_file"));
    let caller =
        block_on(auth.authenticate(&bearer("k-123"), issuer.as_ref(), NOW_MS, "x")).unwrap();
    assert_eq!(caller.name, "ci");
    assert_eq!(caller.owner, "key:ci");
    assert!(caller.owns(Some("key:ci")) && !caller.owns(Some("key:other")) && !caller.owns(None));
    assert!(matches!(
        block_on(auth.authenticate(&bearer("nope"), issuer.as_ref(), NOW_MS, "x")),
        Err(AuthError::Invalid(_))
    ));
}

#[test]
fn jwt_validation_table() {
    let issuer = Issuer::new();
    let auth = Authenticator::new(AuthConfig {
        oauth: Some(oauth()),
        ..AuthConfig::default()
    });
    let check =
        |token: &str| block_on(auth.authenticate(&bearer(token), issuer.as_ref(), NOW_MS, "x"));

    let good = check(&issuer.token(0, claims(json!({})))).unwrap();
    assert_eq!((good.name.as_str(), good.read_only), ("alice", false));
    assert_eq!(good.owner, format!("oauth:{ISSUER} alice"));
    let bob = check(&issuer.token(0, claims(json!({"sub": "bob"})))).unwrap();
    assert!(!bob.owns(Some(&good.owner)) && bob.owns(Some(&bob.owner)));
    let reader = check(&issuer.token(0, claims(json!({"scope": "mcp:read"})))).unwrap();
    assert!(reader.read_only);

    let rows = [
        (
            "expired",
            issuer.token(0, claims(json!({"exp": NOW_MS / 1000 - 31}))),
        ),
        (
            "wrong audience",
            issuer.token(0, claims(json!({"aud": "https://other.test/mcp"}))),
        ),
        (
            "wrong issuer",
            issuer.token(0, claims(json!({"iss": "https://evil.test"}))),
        ),
        (
            "not yet valid",
            issuer.token(0, claims(json!({"nbf": NOW_MS / 1000 + 120}))),
        ),
        (
            "no scope",
            issuer.token(0, claims(json!({"scope": "profile"}))),
        ),
        ("empty sub", issuer.token(0, claims(json!({"sub": ""})))),
        ("no sub", {
            let mut c = claims(json!({}));
            c.as_object_mut().unwrap().remove("sub");
            issuer.token(0, c)
        }),
        ("no exp", {
            let mut c = claims(json!({}));
            c.as_object_mut().unwrap().remove("exp");
            issuer.token(0, c)
        }),
    ];
    for (what, token) in rows {
        assert!(
            matches!(check(&token), Err(AuthError::Invalid(_))),
            "{what} must be refused"
        );
    }
    // Within the leeway, a just-expired token still passes.
    assert!(check(&issuer.token(0, claims(json!({"exp": NOW_MS / 1000 - 10})))).is_ok());

    // A flipped signature byte.
    let token = issuer.token(0, claims(json!({})));
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig = sig.as_bytes().to_vec();
    sig[5] = if sig[5] == b'A' { b'B' } else { b'A' };
    assert!(matches!(
        check(&format!("{head}.{}", String::from_utf8(sig).unwrap())),
        Err(AuthError::Invalid(_))
    ));

    // alg: none.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        b64.encode(claims(json!({})).to_string())
    );
    assert!(matches!(check(&none), Err(AuthError::Invalid(_))));
}

#[test]
fn unknown_kid_refreshes_jwks_once_then_refuses() {
    let issuer = Issuer::new();
    let auth = Authenticator::new(AuthConfig {
        oauth: Some(oauth()),
        ..AuthConfig::default()
    });
    let check = |token: &str, now: u64| {
        block_on(auth.authenticate(&bearer(token), issuer.as_ref(), now, "x"))
    };
    assert!(check(&issuer.token(0, claims(json!({}))), NOW_MS).is_ok());
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    assert!(check(&issuer.token(0, claims(json!({}))), NOW_MS + 1000).is_ok());
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "cached");
    let unknown = issuer.token(1, claims(json!({})));
    assert!(check(&unknown, NOW_MS + JWKS_MIN_REFRESH_MS + 1).is_err());
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        2,
        "one refresh for the unknown kid"
    );
    assert!(check(&unknown, NOW_MS + JWKS_MIN_REFRESH_MS + 2).is_err());
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2, "no refresh storm");
}

#[test]
fn challenge_names_the_resource_metadata() {
    let auth = Authenticator::new(AuthConfig {
        oauth: Some(oauth()),
        resource_url: Some(AUDIENCE.into()),
        ..AuthConfig::default()
    });
    let c = auth.challenge(&http::HeaderMap::new(), &AuthError::Missing);
    assert_eq!(
        c,
        "Bearer resource_metadata=\"https://mcp.test/.well-known/oauth-protected-resource\""
    );
    let meta = auth.resource_metadata(&http::HeaderMap::new()).unwrap();
    assert_eq!(meta["resource"], AUDIENCE);
    assert_eq!(meta["authorization_servers"][0], ISSUER);
}

#[test]
fn open_gateway_callers_share_the_anonymous_owner_whatever_their_address() {
    let auth = Authenticator::new(AuthConfig::default());
    let issuer = Issuer::new();
    let h = http::HeaderMap::new();
    let a = block_on(auth.authenticate(&h, issuer.as_ref(), NOW_MS, "10.0.0.1")).unwrap();
    let b = block_on(auth.authenticate(&h, issuer.as_ref(), NOW_MS, "10.0.0.2")).unwrap();
    assert_eq!(a.name, "10.0.0.1");
    assert_eq!(
        (a.owner.as_str(), b.owner.as_str()),
        (ANONYMOUS_OWNER, ANONYMOUS_OWNER)
    );
    assert!(b.owns(Some(&a.owner)));
    // An owner-less caller (an old WebSocket attachment) owns nothing.
    let old: Caller = serde_json::from_value(json!({"name": "x", "authenticated": true, "read_only": false, "tools": null, "rate_limit": null})).unwrap();
    assert!(!old.owns(Some("")));
}

#[test]
fn glob_patterns() {
    assert!(glob_match("jira_*", "jira_search"));
    assert!(glob_match("*_get_*", "gitlab_get_file"));
    assert!(!glob_match("jira_*", "gitlab_search"));
    assert!(glob_match("exact", "exact") && !glob_match("exact", "exactly"));
    assert!(glob_match("*", ""));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn authorization_parsing_never_panics(auth in "[ -~]{0,80}", key in "[ -~]{0,40}") {
            let mut h = http::HeaderMap::new();
            if let Ok(v) = auth.parse() { h.insert(http::header::AUTHORIZATION, v); }
            if let Ok(v) = key.parse() { h.insert("x-api-key", v); }
            let _ = presented(&h);
            let a = Authenticator::new(AuthConfig { oauth: Some(oauth()), api_keys: vec![ApiKeyEntry { name: "n".into(), hash: KeyHash::new("k", b"saltsalt"), read_only: false, tools: None, rate_limit: None }], ..AuthConfig::default() });
            let issuer = Issuer::new();
            let _ = block_on(a.authenticate(&h, issuer.as_ref(), NOW_MS, "x"));
        }
    }
}
