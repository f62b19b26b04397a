//! An event's URL after the host: the path for its type and the query-string junk real
//! sites carry — tracking parameters the worker keeps (`utm_*`) and ones it must drop
//! (click ids, `email`, `token`), plus fragments.
//!
//! It owns the URL grammar (form-encoded, never needing JSON escapes). It must not pick the
//! page or the product; `events` has chosen them in the `Detail` it passes.

use crate::events::{Detail, EventType};
use crate::json::{lit, push_base36, push_base62, push_hex, push_pct};
use crate::population::Person;
use crate::rng::Rng;
use crate::tables::Tables;

/// Everything after the host, then the closing quote. Realistic junk included: tracking
/// parameters the worker keeps (utm_*) and ones it must drop (click ids, `q`, `email`,
/// `token`), and occasional fragments.
pub(crate) fn write_url_rest(
    out: &mut Vec<u8>,
    r: &mut Rng,
    tables: &Tables,
    etype: EventType,
    d: &Detail,
    p: &Person,
) {
    let mut has_query = false;
    match etype {
        EventType::PageView | EventType::Click => d.page.write_path(out),
        EventType::Search => {
            lit(out, b"/search?q=");
            push_pct(out, &d.query);
            lit(out, b"&sort=");
            lit(
                out,
                r.pick(&["relevance", "price_asc", "newest"]).as_bytes(),
            );
            has_query = true;
        }
        EventType::Login => {
            lit(out, b"/account/login");
            if r.chance(0.5) {
                lit(out, b"?return_to=%2Fcheckout%3Fstep%3Dpayment");
                has_query = true;
            }
        }
        EventType::Download => {
            lit(out, b"/downloads/");
            lit(out, d.download.name.as_bytes());
        }
        EventType::Purchase => {
            lit(out, b"/checkout/confirmation?order=");
            write_order_id(out, d.order);
            has_query = true;
        }
        EventType::SurveyResponse => {
            lit(out, b"/survey/nps-2026-q4?src=");
            lit(out, r.pick(&["email", "in_app", "receipt"]).as_bytes());
            has_query = true;
        }
    }
    let mut sep = |out: &mut Vec<u8>| {
        out.push(if has_query { b'&' } else { b'?' });
        has_query = true;
    };
    if r.chance(0.25) {
        sep(out);
        lit(out, b"utm_source=");
        lit(
            out,
            r.pick(&[
                "newsletter",
                "google",
                "facebook",
                "instagram",
                "tiktok",
                "partner_blog",
            ])
            .as_bytes(),
        );
        lit(out, b"&utm_medium=");
        lit(
            out,
            r.pick(&["email", "cpc", "social", "affiliate"]).as_bytes(),
        );
        lit(out, b"&utm_campaign=");
        lit(
            out,
            r.pick(&[
                "black-friday-2026",
                "winter_sale",
                "welcome-series",
                "retargeting-q4",
            ])
            .as_bytes(),
        );
        if r.chance(0.3) {
            lit(out, b"&utm_content=hero-banner-v2&utm_term=");
            push_pct(out, r.pick_str(&tables.search_queries));
        }
    }
    if r.chance(0.08) {
        sep(out);
        lit(out, r.pick(&[&b"gclid="[..], b"fbclid=", b"msclkid="]));
        let mut s = String::with_capacity(22);
        push_base62(&mut s, r.next_u64(), 11);
        push_base62(&mut s, r.next_u64(), 11);
        lit(out, s.as_bytes());
    }
    if r.chance(0.03) {
        sep(out);
        lit(out, b"email=");
        push_pct(out, &p.email());
    }
    if r.chance(0.02) {
        sep(out);
        lit(out, b"token=");
        let mut s = String::with_capacity(32);
        push_hex(&mut s, r.next_u64(), 16);
        push_hex(&mut s, r.next_u64(), 16);
        lit(out, s.as_bytes());
    }
    if r.chance(0.04) {
        sep(out);
        lit(
            out,
            r.pick(&[
                &b"ref=homepage_carousel"[..],
                b"lang=de",
                b"sessionid=8f14e45fceea167a",
                b"page=2",
            ]),
        );
    }
    if r.chance(0.05) {
        lit(
            out,
            r.pick(&[&b"#reviews"[..], b"#specs", b"#section-2", b"#"]),
        );
    }
    out.push(b'"');
}

pub(crate) fn write_order_id(out: &mut Vec<u8>, order: u64) {
    lit(out, b"ORD-2026-");
    let mut s = String::with_capacity(8);
    push_base36(&mut s, order, 8);
    lit(out, s.to_ascii_uppercase().as_bytes());
}
