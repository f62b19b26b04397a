//! The pseudonym key as a secret: a string type whose `Debug` never shows it and whose
//! bytes are zeroized when it is dropped, and the checks that refuse a key an attacker
//! could guess (too short, a placeholder copied from our own examples, too little
//! variety). It reads nothing: `pseudonym.key_file` is read by `Config::load`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The pseudonym key must be at least this long (bytes): an HMAC-SHA256 key shorter than
/// the hash's 32 bytes gives less than its strength.
pub const MIN_KEY_LEN: usize = 32;

/// Values shipped in our own examples (README, `deploy/`, compose, `config/`): a key
/// copied from them is public. Compared case-insensitively.
const PLACEHOLDERS: &[&str] = &[
    "change-me-to-a-long-secret",
    "REPLACE-with-at-least-32-random-bytes",
    "REPLACE-with-at-least-16-random-bytes",
    "compose-demo-key-change-me-0123456789",
    "example-key-0123456789",
];

/// Words that mark a key as a placeholder wherever they appear in it.
const PLACEHOLDER_WORDS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "replace-with",
    "placeholder",
    "your-key",
    "your_key",
    "example",
];

/// A key must carry at least this many bits by its own character statistics: a random
/// hex string of 32 characters has about 120, a base64 one of 44 about 240.
const MIN_KEY_BITS: f64 = 100.0;

/// A secret string: serialized as itself (the only serializer, `Config::masked`,
/// replaces it first), shown as `***` by `Debug`, wiped from memory on drop.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The secret's text.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// True when no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(Zeroizing::new(s.to_string()))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(Zeroizing::new(s))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_empty() { "\"\"" } else { "***" })
    }
}

/// Why `key` may not be a pseudonym key, or `None` when it may. The reason never
/// repeats the key.
pub fn key_problem(key: &str) -> Option<String> {
    if key.len() < MIN_KEY_LEN {
        return Some(format!(
            "must be at least {MIN_KEY_LEN} bytes (it has {}); make one with `openssl rand -hex 32`",
            key.len()
        ));
    }
    let lower = key.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|p| p.eq_ignore_ascii_case(key))
        || PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
    {
        return Some(
            "is a placeholder from an example, not a secret; make one with `openssl rand -hex 32`"
                .into(),
        );
    }
    let bits = entropy_bits(key.as_bytes());
    if bits < MIN_KEY_BITS {
        return Some(format!(
            "has too little variety to be secret (about {bits:.0} bits, at least {MIN_KEY_BITS:.0} needed); make one with `openssl rand -hex 32`"
        ));
    }
    None
}

/// The key's length times the Shannon entropy of its byte frequencies: an upper bound
/// on what a key of repeated or few characters can hold, not a measure of randomness.
fn entropy_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let n = bytes.len() as f64;
    let per_byte: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum();
    per_byte * n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_keys_pass() {
        // `openssl rand -hex 32` and `openssl rand -base64 32` outputs.
        assert_eq!(
            key_problem("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            None
        );
        assert_eq!(
            key_problem("q0h5S1c3mXJ0b2RtQ2xhcmVuY2UtMjAyNi0xMi0wMg=="),
            None
        );
        assert_eq!(key_problem("3f2a9c71e04b8d56a1c7e9f20b4d6a83"), None);
    }

    #[test]
    fn short_placeholder_and_monotonous_keys_are_refused() {
        assert!(key_problem("a-very-secret-key-123").is_some_and(|w| w.contains("32 bytes")));
        for p in PLACEHOLDERS {
            let padded = format!("{p}{}", "x".repeat(MIN_KEY_LEN.saturating_sub(p.len())));
            assert!(key_problem(&padded).is_some(), "{p}");
        }
        assert!(
            key_problem("my-production-key-CHANGEME-2026-12-02")
                .is_some_and(|w| w.contains("placeholder"))
        );
        for dull in [
            "a".repeat(64),
            "ab".repeat(32),
            "0000111100001111".repeat(4),
        ] {
            assert!(
                key_problem(&dull).is_some_and(|w| w.contains("variety")),
                "{dull}"
            );
        }
    }

    #[test]
    fn reasons_and_debug_never_show_the_key() {
        let key = "hunter2hunter2hunter2hunter2hunter2";
        let why = key_problem(key).unwrap_or_default();
        assert!(!why.contains("hunter2"), "{why}");
        let s = Secret::from(key);
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
    }
}
