//! Secrets kept in the database (registry credentials, a container's environment) are sealed
//! with AES-256-GCM under the deployment's key: a database dump alone does not reveal them.
//! Every process that starts containers needs the same key (`SBX_SECRET_KEY`, or the key file
//! set-up writes under the data folder).

use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

use crate::StoreError;

/// The format byte in front of every sealed value.
const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;

/// Seals and opens with one key.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The key in 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Result<Self, StoreError> {
        let bytes = hex::decode(hex_key.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| StoreError::Invalid("the secret key must be 64 hex digits".into()))?;
        let mut key = [0; 32];
        key.copy_from_slice(&bytes);
        Ok(Self::new(key))
    }

    /// A secret derived from the key for `label`: HMAC-SHA256 of the label under the key, 32
    /// bytes. Every process with the key computes the same one, and nobody without it can
    /// (the runners' internal endpoint authenticates API processes with one).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let key = openssl::pkey::PKey::hmac(&self.key).expect("an HMAC key of 32 bytes");
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
            .expect("HMAC-SHA256");
        let mac = signer
            .sign_oneshot_to_vec(label.as_bytes())
            .expect("HMAC-SHA256 of a label");
        let mut out = [0; 32];
        out.copy_from_slice(&mac);
        out
    }

    /// `plain`, sealed: version, nonce, ciphertext, tag.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE] = rand::random();
        let mut tag = [0; TAG];
        let sealed = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            &[VERSION],
            plain,
            &mut tag,
        )
        .expect("AES-256-GCM with a 32-byte key and 12-byte nonce");
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len() + TAG);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&tag);
        out
    }

    /// What `sealed` holds, if it was sealed with this key and not altered.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let bad = || StoreError::Invalid("a sealed value does not open with this key".into());
        if sealed.len() < 1 + NONCE + TAG || sealed[0] != VERSION {
            return Err(bad());
        }
        let (nonce, rest) = sealed[1..].split_at(NONCE);
        let (data, tag) = rest.split_at(rest.len() - TAG);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            &[VERSION],
            data,
            tag,
        )
        .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_refuses_tampering_and_other_keys() {
        let s = Sealer::new([7; 32]);
        let sealed = s.seal(b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(s.open(&sealed).unwrap(), b"hunter2");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.open(&bad).is_err());
        assert!(Sealer::new([8; 32]).open(&sealed).is_err());
        assert!(Sealer::from_hex("00").is_err());
        assert!(Sealer::from_hex(&"ab".repeat(32)).is_ok());
    }
}
