//! JWS signature verification for OAuth access tokens: a jsonwebtoken [`CryptoProvider`] that
//! verifies (every algorithm jsonwebtoken knows) and never signs.
//!
//! Why not jsonwebtoken's `rust_crypto` provider: its one static provider links the signers too
//! (RSA private-key parsing and blinding, ECDSA and EdDSA signing with a ChaCha RNG, and
//! ed25519-dalek's 30 KiB basepoint table), which a resource server never runs: dropping them took
//! the Worker bundle from 953.6 to 884 KiB gzip. The verifiers below use the same RustCrypto crates
//! (rsa, p256, p384, ed25519-dalek, hmac) the way that provider does.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The provider: verifiers only; signing answers `InvalidAlgorithm`. The JWK helpers (used only to
/// build JWKs from private keys and for thumbprints, neither of which mcp-edge does) are left unset.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes [`PROVIDER`] jsonwebtoken's process default (first call wins; later calls do nothing).
pub(crate) fn install() {
    // Err only means a provider is installed already: this one, since mcp-edge installs no other
    // and enables no provider feature of jsonwebtoken.
    let _ = PROVIDER.install_default();
}

/// A public key checked against its algorithm's family when the verifier is made.
enum Key {
    Hmac(Vec<u8>),
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

struct Verifier {
    alg: Algorithm,
    key: Key,
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let family = alg.family();
    if key.family() != family {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let key = match (family, key.kind()) {
        (AlgorithmFamily::Hmac, DecodingKeyKind::SecretOrDer(secret)) => Key::Hmac(secret.clone()),
        (AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => Key::Rsa(
            RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
        ),
        (AlgorithmFamily::Rsa, DecodingKeyKind::SecretOrDer(der)) => Key::Rsa(
            RsaPublicKey::from_pkcs1_der(der)
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
        ),
        (AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(sec1)) => match alg {
            Algorithm::ES256 => Key::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
                    .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
            ),
            Algorithm::ES384 => Key::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
                    .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
            ),
            _ => return Err(ErrorKind::InvalidAlgorithm.into()),
        },
        (AlgorithmFamily::Ed, DecodingKeyKind::SecretOrDer(x)) => {
            let x = <&[u8; 32]>::try_from(x.as_slice()).map_err(|_| ErrorKind::InvalidEddsaKey)?;
            Key::Ed25519(
                ed25519_dalek::VerifyingKey::from_bytes(x)
                    .map_err(|_| ErrorKind::InvalidEddsaKey)?,
            )
        }
        _ => return Err(ErrorKind::InvalidKeyFormat.into()),
    };
    Ok(Box::new(Verifier { alg: *alg, key }))
}

fn hmac_verify<M: Mac + hmac::digest::KeyInit>(
    secret: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), signature::Error> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
        .map_err(|_| signature::Error::new())?;
    mac.update(msg);
    // Constant-time comparison.
    mac.verify_slice(sig).map_err(|_| signature::Error::new())
}

/// An RSA check's outcome (its error says nothing a caller could use).
fn rsa_outcome(checked: rsa::Result<()>) -> Result<(), signature::Error> {
    checked.map_err(|_| signature::Error::new())
}

impl signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        use Algorithm::*;
        match (&self.key, self.alg) {
            (Key::Hmac(secret), HS256) => hmac_verify::<Hmac<Sha256>>(secret, msg, sig),
            (Key::Hmac(secret), HS384) => hmac_verify::<Hmac<Sha384>>(secret, msg, sig),
            (Key::Hmac(secret), HS512) => hmac_verify::<Hmac<Sha512>>(secret, msg, sig),
            (Key::Rsa(k), RS256) => {
                rsa_outcome(k.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg), sig))
            }
            (Key::Rsa(k), RS384) => {
                rsa_outcome(k.verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(msg), sig))
            }
            (Key::Rsa(k), RS512) => {
                rsa_outcome(k.verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(msg), sig))
            }
            (Key::Rsa(k), PS256) => {
                rsa_outcome(k.verify(Pss::new::<Sha256>(), &Sha256::digest(msg), sig))
            }
            (Key::Rsa(k), PS384) => {
                rsa_outcome(k.verify(Pss::new::<Sha384>(), &Sha384::digest(msg), sig))
            }
            (Key::Rsa(k), PS512) => {
                rsa_outcome(k.verify(Pss::new::<Sha512>(), &Sha512::digest(msg), sig))
            }
            // ECDSA signatures in a JWS are the fixed-size r || s (RFC 7518 section 3.4).
            (Key::P256(k), ES256) => k.verify(msg, &p256::ecdsa::Signature::from_slice(sig)?),
            (Key::P384(k), ES384) => k.verify(msg, &p384::ecdsa::Signature::from_slice(sig)?),
            (Key::Ed25519(k), EdDSA) => k.verify(msg, &ed25519_dalek::Signature::from_slice(sig)?),
            _ => Err(signature::Error::new()),
        }
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}
