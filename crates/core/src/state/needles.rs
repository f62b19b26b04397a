//! The needles a profile contributes, made once when the profile is loaded: what of it
//! identifies the user (removed from anonymous records) and its card and government-id
//! numbers (removed from every record). It owns which values become needles and in
//! which variants; matching them is `scrub`'s.

use crate::model::{PropMap, PropValue};
use crate::scrub::{NeedleKind, NeedleSet, skeleton};

/// Card and government-id values carry at least this many digits; the strings beside
/// them (a card holder's name, a brand, an issuing country) are not numbers to remove,
/// and a holder equal to the user's name must not turn `profile.name` into `[id]`.
const MIN_ID_DIGITS: usize = 6;

/// A phone number without its country code is still the user's: suffixes of at least
/// this many digits are needles too.
const MIN_NATIONAL_DIGITS: usize = 7;

/// An e-mail's local part alone identifies the user when it is at least this long.
const MIN_LOCAL_PART: usize = 6;

/// Needles for the identifying fields `names` (name, e-mail, phone, mailing address).
pub(super) fn identifying(fields: &PropMap<'_>, names: &[&str]) -> NeedleSet {
    let mut out: Vec<(String, NeedleKind)> = Vec::new();
    for name in names {
        let mut values = Vec::new();
        collect(fields.get(name), &mut values);
        for v in values {
            match *name {
                "email" => email(v, &mut out),
                "phone" => phone(v, &mut out),
                "mailing_address" => address(v, &mut out),
                _ => out.push((v, NeedleKind::Word)),
            }
        }
    }
    NeedleSet::of(out.iter().map(|(v, k)| (v.as_str(), *k)))
}

/// Needles for the digit-bearing values under `names` (bank card, government id).
pub(super) fn forbidden(fields: &PropMap<'_>, names: &[&str]) -> NeedleSet {
    let mut values = Vec::new();
    for name in names {
        collect(fields.get(name), &mut values);
    }
    let digit_bearing = values.iter().filter(|v| {
        let digits = v.chars().filter(char::is_ascii_digit).count();
        digits >= MIN_ID_DIGITS
            || skeleton(v).bytes().filter(u8::is_ascii_digit).count() >= MIN_ID_DIGITS
    });
    NeedleSet::of(digit_bearing.map(|v| (v.as_str(), NeedleKind::Token)))
}

fn email(v: String, out: &mut Vec<(String, NeedleKind)>) {
    if let Some((local, _)) = v.rsplit_once('@')
        && skeleton(local).chars().count() >= MIN_LOCAL_PART
    {
        out.push((local.to_string(), NeedleKind::Word));
    }
    out.push((v, NeedleKind::Token));
}

fn phone(v: String, out: &mut Vec<(String, NeedleKind)>) {
    let skel = skeleton(&v);
    out.push((v, NeedleKind::Token));
    if !skel.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    // Without a country code of one to three digits.
    for cut in 1..=3 {
        if skel.len() >= cut + MIN_NATIONAL_DIGITS {
            out.push((skel[cut..].to_string(), NeedleKind::Token));
        }
    }
}

/// The whole address and each of its comma- or line-separated parts.
fn address(v: String, out: &mut Vec<(String, NeedleKind)>) {
    for part in v.split([',', '\n', ';']) {
        out.push((part.trim().to_string(), NeedleKind::Word));
    }
    out.push((v, NeedleKind::Word));
}

/// Every string and number under `v`, as text.
fn collect(v: Option<&PropValue<'_>>, out: &mut Vec<String>) {
    match v {
        Some(PropValue::String(s)) => out.push(s.to_string()),
        Some(PropValue::Number(n)) => out.push(n.to_string()),
        Some(PropValue::Object(m)) => m.iter().for_each(|(_, v)| collect(Some(v), out)),
        Some(PropValue::Array(a)) => a.iter().for_each(|v| collect(Some(v), out)),
        _ => {}
    }
}
