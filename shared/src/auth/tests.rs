use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use futures::executor::block_on;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

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
        let key = p256::ecdsa::SigningKey::from(sk);
        jws("ES256", kid, &claims, |msg| {
            let sig: p256::ecdsa::Signature = jsonwebtoken::signature::Signer::sign(&key, msg);
            sig.to_vec()
        })
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

/// A compact JWS of `claims` signed by `sign` (the tests' own signer: mcp-edge only verifies).
fn jws(alg: &str, kid: &str, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
    let msg = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let sig = sign(msg.as_bytes());
    format!("{msg}.{}", b64.encode(sig))
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

/// Every algorithm the verify-only provider (`auth::verify`) accepts, through the path `check_jwt`
/// takes (a JWK, then `jsonwebtoken::decode`): a good signature passes; a flipped bit, another
/// key of the same type, or a key of the wrong type fails, never panics.
#[test]
fn verify_only_provider_checks_every_algorithm() {
    use jsonwebtoken::signature::{RandomizedSigner, SignatureEncoding, Signer as _};
    use rsa::pkcs8::DecodePrivateKey;

    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = json!({"sub": "alice"});
    let secret = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_vec();
    let oct = json!({"kty": "oct", "k": b64.encode(&secret)});
    let hmac = |alg: &str| {
        let secret = secret.clone();
        let alg = alg.to_owned();
        move |msg: &[u8]| -> Vec<u8> {
            use hmac::{Hmac, Mac};
            match alg.as_str() {
                "HS256" => {
                    let mut m = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                }
                "HS384" => {
                    let mut m = Hmac::<sha2::Sha384>::new_from_slice(&secret).unwrap();
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                }
                _ => {
                    let mut m = Hmac::<sha2::Sha512>::new_from_slice(&secret).unwrap();
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                }
            }
        }
    };
    let p384 = p384::ecdsa::SigningKey::from_slice(&[3u8; 48]).unwrap();
    let p384_point = p384.verifying_key().to_encoded_point(false);
    let ec384 = json!({"kty": "EC", "crv": "P-384", "x": b64.encode(p384_point.x().unwrap()),
                       "y": b64.encode(p384_point.y().unwrap())});
    let p256 = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
    let p256_point = p256.verifying_key().to_encoded_point(false);
    let ec256 = json!({"kty": "EC", "crv": "P-256", "x": b64.encode(p256_point.x().unwrap()),
                       "y": b64.encode(p256_point.y().unwrap())});
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let okp = json!({"kty": "OKP", "crv": "Ed25519",
                     "x": b64.encode(ed.verifying_key().as_bytes())});
    // A 2048-bit test key (openssl genpkey), used nowhere else.
    let rsa_key = rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("test-rsa-key.pem")).unwrap();
    let rsa_pub = rsa_key.to_public_key();
    let rsa_jwk = {
        use rsa::traits::PublicKeyParts;
        json!({"kty": "RSA", "n": b64.encode(rsa_pub.n().to_bytes_be()),
               "e": b64.encode(rsa_pub.e().to_bytes_be())})
    };
    let rs = |alg: &str, msg: &[u8]| -> Vec<u8> {
        let k = rsa_key.clone();
        let mut rng = rand_core::OsRng;
        match alg {
            "RS256" => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(k)
                .sign(msg)
                .to_vec(),
            "RS384" => rsa::pkcs1v15::SigningKey::<sha2::Sha384>::new(k)
                .sign(msg)
                .to_vec(),
            "RS512" => rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(k)
                .sign(msg)
                .to_vec(),
            "PS256" => rsa::pss::SigningKey::<sha2::Sha256>::new(k)
                .sign_with_rng(&mut rng, msg)
                .to_vec(),
            "PS384" => rsa::pss::SigningKey::<sha2::Sha384>::new(k)
                .sign_with_rng(&mut rng, msg)
                .to_vec(),
            _ => rsa::pss::SigningKey::<sha2::Sha512>::new(k)
                .sign_with_rng(&mut rng, msg)
                .to_vec(),
        }
    };
    type SignFn<'a> = Box<dyn Fn(&[u8]) -> Vec<u8> + 'a>;
    let cases: Vec<(Algorithm, &str, &Value, SignFn)> = vec![
        (Algorithm::HS256, "HS256", &oct, Box::new(hmac("HS256"))),
        (Algorithm::HS384, "HS384", &oct, Box::new(hmac("HS384"))),
        (Algorithm::HS512, "HS512", &oct, Box::new(hmac("HS512"))),
        (
            Algorithm::ES256,
            "ES256",
            &ec256,
            Box::new(|m: &[u8]| {
                let s: p256::ecdsa::Signature = p256.sign(m);
                s.to_vec()
            }),
        ),
        (
            Algorithm::ES384,
            "ES384",
            &ec384,
            Box::new(|m: &[u8]| {
                let s: p384::ecdsa::Signature = p384.sign(m);
                s.to_vec()
            }),
        ),
        (
            Algorithm::EdDSA,
            "EdDSA",
            &okp,
            Box::new(|m: &[u8]| ed.sign(m).to_vec()),
        ),
        (
            Algorithm::RS256,
            "RS256",
            &rsa_jwk,
            Box::new(|m: &[u8]| rs("RS256", m)),
        ),
        (
            Algorithm::RS384,
            "RS384",
            &rsa_jwk,
            Box::new(|m: &[u8]| rs("RS384", m)),
        ),
        (
            Algorithm::RS512,
            "RS512",
            &rsa_jwk,
            Box::new(|m: &[u8]| rs("RS512", m)),
        ),
        (
            Algorithm::PS256,
            "PS256",
            &rsa_jwk,
            Box::new(|m: &[u8]| rs("PS256", m)),
        ),
        (
            Algorithm::PS384,
            "PS384",
            &rsa_jwk,
            Box::new(|m: &[u8]| rs("PS384", m)),
        ),
        (
            Algorithm::PS512,
            "PS512",
            &rsa_jwk,
            Box::new(|m: &[u8]| rs("PS512", m)),
        ),
    ];
    let check = |token: &str, jwk: &Value, alg: Algorithm| {
        super::verify::install();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let key = DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims)
    };
    for (alg, name, jwk, sign) in &cases {
        let token = jws(name, "k", &claims, sign);
        assert_eq!(check(&token, jwk, *alg).unwrap(), claims, "{name}");
        // One flipped bit in the signature.
        let (msg, sig) = token.rsplit_once('.').unwrap();
        let mut sig = b64.decode(sig).unwrap();
        sig[0] ^= 1;
        let tampered = format!("{msg}.{}", b64.encode(&sig));
        assert!(check(&tampered, jwk, *alg).is_err(), "{name} tampered");
        // A key of another type (the verifier refuses it before checking anything).
        let other = if **jwk == oct { &okp } else { &oct };
        assert!(
            check(&token, other, *alg).is_err(),
            "{name} with a wrong key type"
        );
    }
    // Same key type, another key: the ES256 token against a different P-256 key.
    let es256 = jws("ES256", "k", &claims, |m| {
        let s: p256::ecdsa::Signature = p256.sign(m);
        s.to_vec()
    });
    let sk = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&sk.public_key(), false);
    let stranger = json!({"kty": "EC", "crv": "P-256", "x": b64.encode(point.x().unwrap()),
                          "y": b64.encode(point.y().unwrap())});
    assert!(check(&es256, &stranger, Algorithm::ES256).is_err());
    // An ES384 token claimed as ES256 against the P-384 key; an Ed25519 key of 31 bytes.
    let es384 = jws("ES256", "k", &claims, |m| {
        let s: p384::ecdsa::Signature = p384.sign(m);
        s.to_vec()
    });
    assert!(check(&es384, &ec384, Algorithm::ES256).is_err());
    let short = json!({"kty": "OKP", "crv": "Ed25519", "x": b64.encode([1u8; 31])});
    let eddsa = jws("EdDSA", "k", &claims, |m| ed.sign(m).to_vec());
    assert!(check(&eddsa, &short, Algorithm::EdDSA).is_err());
}
