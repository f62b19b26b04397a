//! The `properties` object of each event type — page, click, search, login, download,
//! purchase, survey — and the SDK trailer every real event carries, which brings the
//! average raw event to ~1 KB.
//!
//! It owns the shapes of these objects and the personal data deliberately hidden in free
//! text (e-mails, phones, card numbers the worker's scrubber must catch). It must not write
//! the envelope around them; `events` does.

use crate::events::{Detail, EventType};
use crate::json::{lit, push_bool, push_dec_padded, push_fixed, push_hex, push_str, push_u64};
use crate::population::Person;
use crate::records::card_number;
use crate::rng::Rng;
use crate::tables::{Device, Platform, Tables};
use crate::time::{SECOND_MS, push_time};
use crate::url::write_order_id;

/// A phrase from `base`, sometimes with the person's own e-mail, phone or a card number
/// mixed in: exactly what the worker's free-text scrubber exists for.
pub(crate) fn free_text<S: AsRef<str>>(
    r: &mut Rng,
    p: &Person,
    base: &[S],
    email: f64,
    phone: f64,
    card: f64,
) -> String {
    let mut s = String::with_capacity(96);
    s.push_str(r.pick_ref(base).as_ref());
    let x = r.f64();
    if x < email {
        s.push_str(r.pick(&[" – contact me at ", " ", ", my email is "]));
        s.push_str(&p.email());
    } else if x < email + phone {
        s.push_str(r.pick(&[" call ", ", phone: ", " "]));
        s.push_str(&p.phone());
    } else if x < email + phone + card {
        s.push_str(" – card ");
        let n = card_number(r);
        for (k, c) in n.chars().enumerate() {
            if k > 0 && k % 4 == 0 {
                s.push(' ');
            }
            s.push(c);
        }
    }
    s
}

pub(crate) fn write_properties(
    out: &mut Vec<u8>,
    r: &mut Rng,
    tables: &Tables,
    etype: EventType,
    d: &Detail,
    p: &Person,
    identified: bool,
) {
    let loc = p.locale;
    match etype {
        EventType::PageView => {
            lit(out, b"{\"page\":{\"title\":");
            push_str(out, &d.page.title());
            lit(out, b",\"template\":");
            push_str(out, d.page.template());
            lit(out, b",\"section\":");
            push_str(out, d.page.section());
            lit(out, b",\"breadcrumbs\":[\"home\",");
            push_str(out, d.page.section());
            lit(out, b"]},\"viewport\":");
            write_viewport(out, d.ua.device);
            lit(out, b",\"perf\":{\"ttfb_ms\":");
            push_u64(out, r.between(40, 900));
            let fcp = r.between(300, 2500);
            lit(out, b",\"fcp_ms\":");
            push_u64(out, fcp);
            lit(out, b",\"lcp_ms\":");
            push_u64(out, fcp + r.below(2500));
            lit(out, b",\"cls\":");
            push_fixed(out, r.below_i64(300), 3);
            lit(out, b"},\"experiment\":{\"id\":");
            push_str(
                out,
                r.pick(&[
                    "exp_pdp_gallery_v2",
                    "exp_checkout_one_page",
                    "exp_search_ranker_b",
                ]),
            );
            lit(out, b",\"variant\":");
            push_str(out, r.pick(&["control", "a", "b"]));
            lit(out, b"},\"scroll_depth_pct\":");
            push_u64(out, r.below(101));
            out.push(b'}');
        }
        EventType::Click => {
            let c = r.pick_ref(&tables.click_targets);
            lit(out, b"{\"element\":{\"id\":");
            push_str(out, &c.id);
            lit(out, b",\"tag\":");
            push_str(out, &c.tag);
            lit(out, b",\"text\":");
            push_str(out, &c.text);
            lit(out, b",\"selector\":");
            push_str(out, &c.selector);
            lit(out, b",\"position\":{\"x\":");
            push_u64(out, r.below(1400));
            lit(out, b",\"y\":");
            push_u64(out, r.below(2600));
            lit(out, b"}},\"target_url\":");
            match &c.target {
                None => lit(out, b"null"),
                Some(target) => {
                    lit(out, b"\"https://shop.example.com");
                    lit(out, target.as_bytes());
                    out.push(b'"');
                }
            }
            lit(out, b",\"page\":{\"template\":");
            push_str(out, d.page.template());
            lit(out, b",\"title\":");
            push_str(out, &d.page.title());
            lit(out, b"},\"viewport\":");
            write_viewport(out, d.ua.device);
            out.push(b'}');
        }
        EventType::Search => {
            lit(out, b"{\"query\":");
            push_str(out, &d.query);
            let count = if r.chance(0.1) { 0 } else { r.between(1, 2400) };
            lit(out, b",\"results\":{\"count\":");
            push_u64(out, count);
            lit(out, b",\"shown\":");
            push_u64(out, count.min(24));
            lit(out, b",\"top_skus\":[");
            for k in 0..count.min(3) {
                if k > 0 {
                    out.push(b',');
                }
                push_str(out, &r.pick_ref(&tables.products).sku);
            }
            lit(out, b"]},\"filters\":{\"category\":");
            push_str(out, &tables.products[d.product].category);
            lit(out, b",\"price\":{\"min\":");
            push_u64(out, r.below(50));
            lit(out, b",\"max\":");
            push_u64(out, r.between(60, 1000));
            lit(out, b",\"currency\":");
            push_str(out, &loc.currency);
            lit(out, b"},\"in_stock\":");
            push_bool(out, r.chance(0.4));
            lit(out, b"},\"sort\":\"relevance\",\"page\":");
            push_u64(out, r.between(1, 3));
            lit(out, b",\"took_ms\":");
            push_u64(out, r.between(8, 400));
            out.push(b'}');
        }
        EventType::Login => {
            lit(out, b"{\"method\":");
            push_str(
                out,
                r.pick(&["password", "google", "apple", "passkey", "magic_link"]),
            );
            let success = r.chance(0.9);
            lit(out, b",\"success\":");
            push_bool(out, success);
            if !success {
                lit(out, b",\"error\":{\"code\":\"invalid_credentials\",\"message\":\"Wrong e-mail or password\"}");
            }
            lit(out, b",\"mfa\":{\"used\":");
            push_bool(out, r.chance(0.3));
            lit(out, b",\"factor\":");
            push_str(out, r.pick(&["totp", "sms", "webauthn"]));
            lit(out, b"},\"remember_me\":");
            push_bool(out, r.chance(0.5));
            lit(out, b",\"attempt\":");
            push_u64(out, r.between(1, 3));
            lit(out, b",\"auth_client\":{\"sdk\":\"shop-auth-sdk\",\"sdk_version\":\"3.4.1\",\"features\":{\"passkeys\":true,\"webauthn\":");
            push_bool(out, r.chance(0.7));
            lit(out, b",\"captcha\":");
            push_bool(out, r.chance(0.1));
            lit(out, b"}},\"viewport\":");
            write_viewport(out, d.ua.device);
            out.push(b'}');
        }
        EventType::Download => {
            let (name, mime) = (&d.download.name, &d.download.mime);
            lit(out, b"{\"file\":{\"name\":");
            push_str(out, name);
            lit(out, b",\"size_bytes\":");
            push_u64(out, r.between(20_000, 80_000_000));
            lit(out, b",\"mime\":");
            push_str(out, mime);
            lit(out, b",\"checksum\":{\"algo\":\"sha256\",\"value\":\"");
            let mut s = String::with_capacity(64);
            for _ in 0..4 {
                push_hex(&mut s, r.next_u64(), 16);
            }
            lit(out, s.as_bytes());
            lit(out, b"\"}},\"source\":");
            push_str(
                out,
                r.pick(&["order_history", "product_page", "email_link", "help_center"]),
            );
            lit(out, b",\"duration_ms\":");
            push_u64(out, r.between(80, 30_000));
            lit(out, b",\"resumed\":");
            push_bool(out, r.chance(0.05));
            out.push(b'}');
        }
        EventType::Purchase => write_purchase(out, r, tables, d, p, identified),
        EventType::SurveyResponse => {
            lit(out, b"{\"survey_id\":\"nps-2026-q4\",\"question_id\":");
            push_str(out, r.pick(&["q1_recommend", "q2_why", "q3_delivery"]));
            lit(out, b",\"rating\":");
            push_u64(out, r.below(11));
            lit(out, b",\"answer\":");
            push_str(
                out,
                &free_text(r, p, &tables.survey_answers, 0.1, 0.06, 0.03),
            );
            lit(out, b",\"meta\":{\"channel\":");
            push_str(out, r.pick(&["email", "in_app", "receipt"]));
            lit(out, b",\"duration_s\":");
            push_u64(out, r.between(4, 600));
            lit(out, b",\"locale\":");
            push_str(out, p.language);
            lit(out, b",\"device\":{\"class\":");
            push_str(out, d.ua.device.name());
            lit(out, b",\"orientation\":");
            push_str(out, r.pick(&["portrait", "landscape"]));
            lit(out, b"}}}");
        }
    }
    // Each arm closes its object; reopen it to append what every SDK call carries.
    out.pop();
    write_sdk_trailer(out, r, d);
    out.push(b'}');
}

/// SDK metadata and client clock: present in every real event, and what brings the
/// average raw event to ~1 KB.
fn write_sdk_trailer(out: &mut Vec<u8>, r: &mut Rng, d: &Detail) {
    let (sdk, version) = match d.ua.platform {
        Platform::Web => ("shop-analytics-js", "4.2.1"),
        Platform::Ios => ("shop-analytics-ios", "3.9.0"),
        Platform::Android => ("shop-analytics-android", "3.8.2"),
    };
    lit(out, b",\"sdk\":{\"name\":");
    push_str(out, sdk);
    lit(out, b",\"version\":");
    push_str(out, version);
    lit(out, b"},\"client\":{\"seq\":");
    push_u64(out, r.between(1, 400));
    // Batching SDKs send later than the event happened; device clocks drift a little.
    lit(out, b",\"sent_at\":");
    push_time(out, d.t + r.below_i64(30 * SECOND_MS) - 2 * SECOND_MS, None);
    lit(out, b",\"network\":");
    push_str(out, r.pick(&["wifi", "4g", "5g", "ethernet", "unknown"]));
    lit(out, b",\"cart_items\":");
    push_u64(out, if r.chance(0.6) { 0 } else { r.between(1, 6) });
    out.push(b'}');
}

fn write_purchase(
    out: &mut Vec<u8>,
    r: &mut Rng,
    tables: &Tables,
    d: &Detail,
    p: &Person,
    identified: bool,
) {
    let loc = p.locale;
    // Prices are catalogue USD cents converted at a fixed rate and rounded to a shop-like
    // ending (x.99, or whole tens for currencies without minor units).
    let price = |cents: u64| {
        let minor = cents * loc.fx_milli / 1000;
        if loc.currency_decimals == 0 {
            (minor / 10).max(1) * 10
        } else {
            (minor / 100) * 100 + 99
        }
    };
    lit(out, b"{\"order_id\":\"");
    write_order_id(out, d.order);
    let n = r.weighted(&[60, 25, 10, 5]) + 1;
    let mut total = 0u64;
    let mut items = Vec::with_capacity(256);
    for k in 0..n {
        // Consecutive catalogue entries: distinct items, first the event's product.
        let prod = &tables.products[(d.product + k) % tables.products.len()];
        let qty = if r.chance(0.85) { 1 } else { r.between(2, 4) };
        let unit = price(prod.cents);
        total += unit * qty;
        if k > 0 {
            items.push(b',');
        }
        lit(&mut items, b"{\"sku\":");
        push_str(&mut items, &prod.sku);
        lit(&mut items, b",\"name\":");
        push_str(&mut items, &prod.name);
        lit(&mut items, b",\"qty\":");
        push_u64(&mut items, qty);
        lit(&mut items, b",\"unit_price\":");
        push_fixed(&mut items, unit as i64, loc.currency_decimals);
        lit(&mut items, b",\"category\":");
        push_str(&mut items, &prod.category);
        items.push(b'}');
    }
    let shipping = if total > price(5000) { 0 } else { price(499) };
    lit(out, b"\",\"amount\":");
    push_fixed(out, (total + shipping) as i64, loc.currency_decimals);
    lit(out, b",\"currency\":");
    push_str(out, &loc.currency);
    lit(out, b",\"items\":[");
    out.extend_from_slice(&items);
    lit(out, b"],\"shipping\":{\"method\":");
    push_str(out, r.pick(&["standard", "express", "pickup"]));
    lit(out, b",\"cost\":");
    push_fixed(out, shipping as i64, loc.currency_decimals);
    lit(out, b",\"address\":{\"country\":");
    push_str(out, &loc.country);
    lit(out, b",\"city\":");
    push_str(out, &p.city.name);
    lit(out, b"}},\"payment\":{\"method\":");
    let card = r.chance(0.75);
    push_str(
        out,
        if card {
            "card"
        } else {
            r.pick(&["paypal", "klarna", "apple_pay", "invoice"])
        },
    );
    if card {
        lit(out, b",\"brand\":");
        push_str(out, r.pick(&["visa", "mastercard", "amex"]));
        if r.chance(0.6) {
            lit(out, b",\"card_last4\":\"");
            let mut s = String::with_capacity(4);
            push_dec_padded(&mut s, r.below(10_000), 4);
            lit(out, s.as_bytes());
            out.push(b'"');
        }
        lit(out, b",\"three_ds\":");
        push_bool(out, r.chance(0.8));
    }
    out.push(b'}');
    if r.chance(0.15) {
        lit(out, b",\"coupon\":");
        push_str(out, r.pick(&["WELCOME10", "BF2026", "FREESHIP"]));
    }
    if r.chance(0.1) {
        lit(out, b",\"note\":");
        let base: &[&str] = &[
            "Please leave the parcel with the neighbour",
            "Gift – please no invoice in the box",
        ];
        // Customers do paste card numbers into order notes.
        push_str(
            out,
            &free_text(r, p, base, 0.0, if identified { 0.1 } else { 0.0 }, 0.5),
        );
    }
    out.push(b'}');
}

fn write_viewport(out: &mut Vec<u8>, device: Device) {
    lit(
        out,
        match device {
            Device::Desktop => b"{\"width\":1920,\"height\":1080,\"dpr\":1}",
            Device::Mobile => b"{\"width\":390,\"height\":844,\"dpr\":3}",
            Device::Tablet => b"{\"width\":820,\"height\":1180,\"dpr\":2}",
            Device::Bot => b"{\"width\":1024,\"height\":768,\"dpr\":1}",
        },
    );
}
