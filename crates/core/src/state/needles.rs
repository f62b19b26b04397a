//! The needles a profile contributes, made once when the profile is loaded: what of it
//! identifies the user (removed from anonymous records) and its card and government-id
//! numbers (removed from every record). It owns which values become needles and in
//! which variants; matching them is `scrub`'s.

use crate::model::{PropMap, PropValue};
use crate::scrub::{Needle, NeedleKind, skeleton};

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
pub(super) fn identifying(fields: &PropMap<'_>, names: &[&str]) -> Box<[Needle]> {
    let mut out = Vec::new();
    for name in names {
        let mut values = Vec::new();
        collect(fields.get(name), &mut values);
        for v in values {
            match *name {
                "email" => email(&v, &mut out),
                "phone" => phone(&v, &mut out),
                "mailing_address" => address(&v, &mut out),
                _ => push(&mut out, Needle::new(&v, NeedleKind::Word)),
            }
        }
    }
    by_length(out)
}

/// Needles for the digit-bearing values under `names` (bank card, government id).
pub(super) fn forbidden(fields: &PropMap<'_>, names: &[&str]) -> Box<[Needle]> {
    let mut out = Vec::new();
    for name in names {
        let mut values = Vec::new();
        collect(fields.get(name), &mut values);
        for v in values {
            let digits = v.chars().filter(char::is_ascii_digit).count();
            let folded_digits = skeleton(&v).bytes().filter(u8::is_ascii_digit).count();
            if digits.max(folded_digits) >= MIN_ID_DIGITS {
                push(&mut out, Needle::new(&v, NeedleKind::Token));
            }
        }
    }
    by_length(out)
}

fn email(v: &str, out: &mut Vec<Needle>) {
    push(out, Needle::new(v, NeedleKind::Token));
    if let Some((local, _)) = v.rsplit_once('@')
        && skeleton(local).chars().count() >= MIN_LOCAL_PART
    {
        push(out, Needle::new(local, NeedleKind::Word));
    }
}

fn phone(v: &str, out: &mut Vec<Needle>) {
    push(out, Needle::new(v, NeedleKind::Token));
    let skel = skeleton(v);
    if !skel.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    // Without a country code of one to three digits.
    for cut in 1..=3 {
        if skel.len() >= cut + MIN_NATIONAL_DIGITS {
            push(out, Needle::new(&skel[cut..], NeedleKind::Token));
        }
    }
}

/// The whole address and each of its comma- or line-separated parts.
fn address(v: &str, out: &mut Vec<Needle>) {
    push(out, Needle::new(v, NeedleKind::Word));
    for part in v.split([',', '\n', ';']) {
        push(out, Needle::new(part.trim(), NeedleKind::Word));
    }
}

/// Shortest first: `Known` stops scanning at the first needle longer than the text.
fn by_length(mut v: Vec<Needle>) -> Box<[Needle]> {
    v.sort_by_key(Needle::skeleton_len);
    v.into_boxed_slice()
}

fn push(out: &mut Vec<Needle>, n: Option<Needle>) {
    if let Some(n) = n
        && !out.contains(&n)
    {
        out.push(n);
    }
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
