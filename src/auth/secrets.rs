//! Random secrets and their stored digests. Refresh tokens and client secrets carry 256 random
//! bits, so a plain SHA-256 is enough to store them: nobody can guess their way back.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 32 random bytes from the OS, URL-safe base64 (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// Hex SHA-256, the form in which tokens and secrets are stored and looked up.
pub fn digest(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Hex SHA-256 of any bytes (also the name of a stored attachment's file).
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256_hex_of_pieces([bytes])
}

/// Hex SHA-256 of pieces taken as one run of bytes (a file held in pieces, never joined).
pub fn sha256_hex_of_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    for piece in pieces {
        hasher.update(piece);
    }
    let hash = hasher.finalize();
    // One allocation (the seed digests a token per seeded invitation).
    let mut hex = String::with_capacity(2 * hash.len());
    for byte in hash {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 15)]));
    }
    hex
}

/// Encrypts `plain` with ChaCha20-Poly1305 under `key` and a fresh random nonce: base64 of the
/// nonce followed by the ciphertext (what [`open_sealed`] reads).
pub fn seal(key: &chacha20poly1305::Key, plain: &[u8]) -> String {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let nonce = random_bytes::<12>();
    let sealed = chacha20poly1305::ChaCha20Poly1305::new(key)
        .encrypt(&chacha20poly1305::Nonce::from(nonce), plain)
        .expect("ChaCha20-Poly1305 encrypts any length this program seals");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// The plain bytes of what [`seal`] made under `key`; `None` if it is not that (another key,
/// altered, not base64).
pub fn open_sealed(key: &chacha20poly1305::Key, sealed: &str) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    chacha20poly1305::ChaCha20Poly1305::new(key)
        .decrypt(&chacha20poly1305::Nonce::from(nonce), ciphertext)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_digests_stable() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
