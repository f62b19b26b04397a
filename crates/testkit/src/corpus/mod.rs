//! The scrubber's evaluation corpora, after Presidio's evaluation method: an adversarial
//! generator (`attacks`) that plants a person's identifiers in named forms and places, and
//! a benign generator (`benign`) of ordinary analytics values that must come through byte
//! for byte. Deterministic per seed. It also owns the *oracle* that decides whether a
//! planted value is still in an output — written independently of the scrubber's own
//! folding, so a folding bug cannot hide itself. It never runs the core: the integration
//! test does, and reports recall and precision per class.

pub mod attacks;
pub mod benign;

use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A small deterministic generator (SplitMix64): the corpora must be the same on every
/// machine and every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// `n` random decimal digits.
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    /// `n` random lower-case letters and digits.
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| char::from(*self.pick(A))).collect()
    }
    /// `n` random hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        const H: &[u8] = b"0123456789abcdef";
        (0..n).map(|_| char::from(*self.pick(H))).collect()
    }
}

/// A user and every value of theirs an attack may plant.
#[derive(Debug, Clone)]
pub struct Person {
    /// Event identifiers.
    pub user_id: String,
    /// Cookie id.
    pub anonymous_id: String,
    /// Device id.
    pub device_id: String,
    /// Session id.
    pub session_id: String,
    /// Event id.
    pub event_id: String,
    /// Given name.
    pub first: String,
    /// Family name.
    pub last: String,
    /// E-mail address.
    pub email: String,
    /// Country calling code (`1`, `44`, `49`).
    pub country_code: String,
    /// National significant number (`4155550123`).
    pub national: String,
    /// Street line (`12 Linden Street`).
    pub street: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal: String,
    /// Bank card number, digits only.
    pub bank_card: String,
    /// Government id (`123-45-6789`).
    pub government_id: String,
}

const FIRST: &[&str] = &[
    "Alice",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Emeka",
    "Fatima",
    "Goran",
    "Hana",
    "Ingrid",
    "Jonas",
    "Kaveh",
    "Leila",
    "Marisol",
    "Nikolai",
    "Olufemi",
    "Priya",
    "Quentin",
    "Rosalind",
    // Names whose upper case needs more than per-letter lower-casing to match.
    "Işık",
    "Οδυσσεύς",
    "Jürgen",
    "Zoë",
];
const LAST: &[&str] = &[
    "Abernathy",
    "Brandvold",
    "Castellanos",
    "Dimitriou",
    "Eberhardt",
    "Fitzgerald",
    "Gulbrandsen",
    "Halvorsen",
    "Iwasaki",
    "Jankowski",
    "Kowalczyk",
    "Lindqvist",
    "Yılmaz",
    "Παπαδόπουλος",
    "Strauß",
    "Nguyễn",
];
const STREETS: &[&str] = &[
    "Linden Street",
    "Harbour Road",
    "Kastanienallee",
    "Rue des Lilas",
];
const CITIES: &[&str] = &[
    "Springfield",
    "Gothenburg",
    "Valladolid",
    "Tórshavn",
    "Oakhaven",
];

impl Person {
    /// A random person.
    pub fn random(r: &mut Rng) -> Person {
        let first = r.pick(FIRST).to_string();
        let last = r.pick(LAST).to_string();
        let (country_code, national) = match r.below(3) {
            0 => (
                "1",
                format!("{}{}{}", r.range(201, 989), r.range(200, 999), r.digits(4)),
            ),
            1 => ("44", format!("7{}", r.digits(9))),
            _ => ("49", format!("15{}", r.digits(9))),
        };
        let brand = 1 + r.below(5) as u8;
        Person {
            user_id: format!("u_{}", r.alnum(10)),
            anonymous_id: format!("{}-{}-4{}", r.hex(8), r.hex(4), r.hex(3)),
            device_id: format!("dev-{}", r.alnum(12)),
            session_id: format!("s-{}", r.alnum(12)),
            event_id: format!("evt-{}", r.alnum(14)),
            email: format!(
                "{}.{}{}@{}.example",
                first.to_lowercase(),
                last.to_lowercase(),
                r.range(10, 99),
                r.pick(&["mail", "post", "inbox"])
            ),
            first,
            last,
            country_code: country_code.to_string(),
            national,
            street: format!("{} {}", r.range(2, 199), r.pick(STREETS)),
            city: r.pick(CITIES).to_string(),
            postal: r.digits(5).replacen('0', "1", 1),
            bank_card: card(r, &[5, brand], 16),
            government_id: format!("{}-{}-{}", r.range(100, 899), r.digits(2), r.digits(4)),
        }
    }

    /// `First Last`.
    pub fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }

    /// The phone as the profile holds it: `+<cc> <national>`.
    pub fn phone(&self) -> String {
        format!("+{} {}", self.country_code, self.national)
    }

    /// The mailing address as one string.
    pub fn address(&self) -> String {
        format!("{}, {} {}", self.street, self.postal, self.city)
    }

    /// The `users.consent` record granting the personal purpose (analytics).
    pub fn consent(&self) -> Value {
        json!({
            "user_id": self.user_id, "updated_at": "2026-11-01T00:00:00Z",
            "policy_version": "v1", "purposes": {"analytics": true}
        })
    }

    /// The `users.profile` record. The card holder is the user's own name, as it is on
    /// real cards: it must not make the name a value to remove from the personal record.
    pub fn profile(&self) -> Value {
        json!({
            "user_id": self.user_id, "updated_at": "2026-11-01T00:00:00Z",
            "name": self.name(), "email": self.email, "phone": self.phone(),
            "mailing_address": {"street": self.street, "postal_code": self.postal, "city": self.city},
            "bank_card": {"number": group4(&self.bank_card, " "), "holder": self.name().to_uppercase()},
            "government_id": self.government_id,
            "preferences": {"newsletter": true}
        })
    }

    /// A raw event of this person with neutral fields; callers plant into it.
    pub fn event(&self) -> Value {
        json!({
            "event_id": self.event_id,
            "event_type": "page_view",
            "occurred_at": "2026-11-29T10:00:00.000Z",
            "user_id": self.user_id,
            "anonymous_id": self.anonymous_id,
            "device_id": self.device_id,
            "session_id": self.session_id,
            "url": "https://shop.example.com/p/shoes",
            "properties": {}
        })
    }
}

/// A Luhn-valid number of `len` digits starting with `prefix`.
pub fn card(r: &mut Rng, prefix: &[u8], len: usize) -> String {
    let mut d: Vec<u8> = prefix.to_vec();
    while d.len() < len - 1 {
        d.push(r.below(10) as u8);
    }
    for check in 0..10 {
        d.push(check);
        if luhn(&d) {
            return d.iter().map(|x| char::from(b'0' + x)).collect();
        }
        d.pop();
    }
    unreachable!("one of ten check digits satisfies Luhn")
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, x)| {
            let v = u32::from(*x) * if i % 2 == 1 { 2 } else { 1 };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `digits` in groups of four joined by `sep`.
pub fn group4(digits: &str, sep: &str) -> String {
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

/// A form of a planted value that must not survive in an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canon {
    /// Compared on skeletons: the output's strings read by [`oracle_fold`], letters and
    /// digits only. Used for values whose letters and digits identify (ids, names, cards).
    Skeleton(String),
    /// Compared on [`oracle_fold`]ed text with separators kept (IP addresses, whose
    /// digits alone would also match unrelated numbers).
    Folded(String),
}

/// The oracle's own reading of output text, independent of the scrubber's: percent
/// escapes decoded (twice, for doubly encoded text), full-width forms and the digit
/// scripts the generator uses mapped to ASCII, the separators it uses made ASCII,
/// invisible characters dropped, accents dropped (NFD), lower case with the case
/// foldings of the names the generator uses (final sigma, dotless i, sharp s).
pub fn oracle_fold(s: &str) -> String {
    let once = pct_decode(s);
    let twice = pct_decode(&once);
    let mut out = String::new();
    for c in twice.chars() {
        let cp = u32::from(c);
        let mapped = match cp {
            0xFF01..=0xFF5E => char::from_u32(cp - 0xFEE0),
            0x3000 | 0xA0 | 0x202F | 0x2009 | 0x2007 => Some(' '),
            0x2010..=0x2015 | 0x2212 => Some('-'),
            0x200B..=0x200D | 0x2060 | 0xFEFF | 0xAD => None,
            0x300..=0x36F => None,
            _ => Some(digit_of(cp).map_or(c, |d| char::from(b'0' + d))),
        };
        if let Some(m) = mapped {
            out.push(m);
        }
    }
    out.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .flat_map(|c| match c {
            'ς' => vec!['σ'],
            'ı' => vec!['i'],
            'ß' => vec!['s', 's'],
            other => vec![other],
        })
        .collect()
}

/// The digit scripts the attack generator writes numbers in.
pub const DIGIT_SCRIPTS: [u32; 6] = [0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE];

fn digit_of(cp: u32) -> Option<u8> {
    DIGIT_SCRIPTS
        .iter()
        .chain(&[0xFF10])
        .find(|z| (**z..**z + 10).contains(&cp))
        .map(|z| (cp - z) as u8)
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                char::from(b[i + 1]).to_digit(16),
                char::from(b[i + 2]).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Letters and digits of folded text.
pub fn oracle_skeleton(s: &str) -> String {
    oracle_fold(s)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// `v` written in form `f` (mod 7), one of those producers and attackers use: as is,
/// upper case, full width, zero-width spaces between characters, percent-encoded,
/// Unicode separators, Arabic-Indic digits. The privacy property test and the structured
/// fuzz target plant values this way.
pub fn written_form(v: &str, f: u8) -> String {
    match f % 7 {
        0 => v.to_string(),
        1 => v.to_uppercase(),
        2 => v
            .chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c),
                ' ' => '\u{3000}',
                _ => c,
            })
            .collect(),
        3 => v.chars().flat_map(|c| [c, '\u{200b}']).collect(),
        4 => v
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
        5 => v.replace(' ', "\u{a0}").replace('-', "\u{2013}"),
        _ => v
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_u32(0x660 + d).unwrap_or(c),
                None => c,
            })
            .collect(),
    }
}

/// Every string of a JSON document (keys included) and every number's text.
pub fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

/// The canons still present in `doc`.
pub fn leaks<'c>(doc: &Value, canons: &'c [Canon]) -> Vec<&'c Canon> {
    let mut texts = Vec::new();
    strings(doc, &mut texts);
    let folded: Vec<String> = texts.iter().map(|t| oracle_fold(t)).collect();
    let skels: Vec<String> = texts.iter().map(|t| oracle_skeleton(t)).collect();
    canons
        .iter()
        .filter(|c| match c {
            Canon::Skeleton(s) => skels.iter().any(|t| t.contains(s.as_str())),
            Canon::Folded(s) => folded.iter().any(|t| t.contains(s.as_str())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_reads_the_planted_forms() {
        assert_eq!(
            oracle_skeleton("４１１１ ١١١١\u{a0}1111–1111"),
            "4111111111111111"
        );
        assert_eq!(oracle_fold("ALICE%2540X.EXAMPLE"), "alice@x.example");
        assert_eq!(oracle_skeleton("José Niño"), "josenino");
        assert_eq!(
            oracle_skeleton("IŞIK STRAUSS ΟΔΥΣΣΕΥΣ"),
            oracle_skeleton("Işık Strauß Οδυσσεύς")
        );
        let doc = json!({"a": ["x 4111-1111-1111-1111"], "203.0.113.7": 1});
        let canons = [
            Canon::Skeleton("4111111111111111".into()),
            Canon::Folded("203.0.113.7".into()),
            Canon::Skeleton("absent".into()),
        ];
        assert_eq!(leaks(&doc, &canons).len(), 2);
    }

    #[test]
    fn generated_cards_are_luhn_valid() {
        let mut r = Rng::new(1);
        for _ in 0..100 {
            let c = card(&mut r, &[4], 16);
            let d: Vec<u8> = c.bytes().map(|b| b - b'0').collect();
            assert!(luhn(&d) && c.len() == 16 && c.starts_with('4'));
        }
    }
}
