//! The adversarial corpus: named attack classes, each planting one person's identifier
//! (or a stranger's) in a form and a place the scrubber must see through. Each attack
//! is a raw event plus the canonical forms that must not survive in the anonymous record
//! (and, for card and government-id classes, in the personal record).

use serde_json::{Number, Value, json};

use super::{Canon, DIGIT_SCRIPTS, Person, Rng, card, group4, oracle_skeleton};

/// One planted event.
#[derive(Debug, Clone)]
pub struct Attack {
    /// The raw event.
    pub event: Value,
    /// Forms that must not be in the anonymous record.
    pub anonymous: Vec<Canon>,
    /// Forms that must not be in the personal record either.
    pub personal: Vec<Canon>,
}

/// A named attack class.
pub struct Class {
    /// Stable name, reported per class.
    pub name: &'static str,
    /// Whether the README promises 100% recall on it (the others are documented limits,
    /// measured so the README's figure is true).
    pub promised: bool,
    make: fn(&mut Rng, &Person) -> Attack,
}

impl Class {
    /// One attack of this class on `p`.
    pub fn make(&self, r: &mut Rng, p: &Person) -> Attack {
        (self.make)(r, p)
    }
}

/// Every class.
pub const CLASSES: &[Class] = &[
    Class {
        name: "url_host_ip_labels",
        promised: true,
        make: url_host_ip_labels,
    },
    Class {
        name: "url_host_browser_ipv4",
        promised: true,
        make: url_host_browser_ipv4,
    },
    Class {
        name: "url_host_user_id",
        promised: true,
        make: url_host_user_id,
    },
    Class {
        name: "url_userinfo",
        promised: true,
        make: url_userinfo,
    },
    Class {
        name: "url_scheme_id",
        promised: true,
        make: url_scheme_id,
    },
    Class {
        name: "url_percent_encoded",
        promised: true,
        make: url_percent_encoded,
    },
    Class {
        name: "event_type_ids",
        promised: true,
        make: event_type_ids,
    },
    Class {
        name: "email_non_ascii",
        promised: true,
        make: email_non_ascii,
    },
    Class {
        name: "email_fullwidth_invisible",
        promised: true,
        make: email_fullwidth_invisible,
    },
    Class {
        name: "phone_plus_dots",
        promised: true,
        make: phone_plus_dots,
    },
    Class {
        name: "phone_national_8",
        promised: true,
        make: phone_national_8,
    },
    Class {
        name: "phone_00_prefix",
        promised: true,
        make: phone_00_prefix,
    },
    Class {
        name: "phone_unicode_digits_separators",
        promised: true,
        make: phone_unicode,
    },
    Class {
        name: "card_unicode_separators",
        promised: true,
        make: card_unicode,
    },
    Class {
        name: "card_digit_groups",
        promised: true,
        make: card_digit_groups,
    },
    Class {
        name: "card_json_numbers",
        promised: true,
        make: card_json_numbers,
    },
    Class {
        name: "card_personal_url_query",
        promised: true,
        make: card_personal_url_query,
    },
    Class {
        name: "profile_name_layouts",
        promised: true,
        make: profile_name_layouts,
    },
    Class {
        name: "profile_email_layouts",
        promised: true,
        make: profile_email_layouts,
    },
    Class {
        name: "profile_phone_layouts",
        promised: true,
        make: profile_phone_layouts,
    },
    Class {
        name: "profile_mailing_address",
        promised: true,
        make: profile_mailing_address,
    },
    Class {
        name: "profile_bank_card_layouts",
        promised: true,
        make: profile_bank_card_layouts,
    },
    Class {
        name: "profile_government_id_layouts",
        promised: true,
        make: profile_government_id,
    },
    Class {
        name: "ids_in_keys_app_referrer",
        promised: true,
        make: ids_elsewhere,
    },
    Class {
        name: "ids_case_separators_escapes",
        promised: true,
        make: ids_layouts,
    },
    Class {
        name: "ip_forms",
        promised: true,
        make: ip_forms,
    },
    Class {
        name: "limit_unformatted_stranger_phone",
        promised: false,
        make: limit_bare_phone,
    },
];

fn attack(event: Value, anonymous: Vec<Canon>) -> Attack {
    Attack {
        event,
        anonymous,
        personal: Vec::new(),
    }
}

fn skel(s: &str) -> Canon {
    Canon::Skeleton(oracle_skeleton(s))
}

fn prop(ev: &mut Value, key: &str, v: Value) {
    ev["properties"][key] = v;
}

/// `v` inside a sentence, as free text carries it.
fn wrap(r: &mut Rng, v: &str) -> String {
    match r.below(6) {
        0 => v.to_string(),
        1 => format!("contact: {v}"),
        2 => format!("({v})"),
        3 => format!("\"{v}\" was entered"),
        4 => format!("see {v}."),
        _ => format!("{v}, thanks"),
    }
}

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' => '\u{3000}',
            '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

fn script_digits(s: &str, zero: u32) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(zero + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// Every byte percent-encoded, or only the reserved ones and `@`.
fn pct(s: &str, all: bool) -> String {
    s.bytes()
        .map(|b| {
            if all || !b.is_ascii_alphanumeric() {
                format!("%{b:02X}")
            } else {
                char::from(b).to_string()
            }
        })
        .collect()
}

fn invisible(r: &mut Rng, s: &str) -> String {
    let zw = ['\u{200b}', '\u{200c}', '\u{2060}', '\u{feff}', '\u{ad}'];
    let mut out = String::new();
    for c in s.chars() {
        out.push(c);
        if r.chance(0.3) {
            out.push(*r.pick(&zw));
        }
    }
    out
}

fn public_ipv4(r: &mut Rng) -> [u64; 4] {
    [
        r.range(11, 223),
        r.range(0, 255),
        r.range(0, 255),
        r.range(1, 254),
    ]
}

fn dotted(ip: [u64; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

fn url_host_ip_labels(r: &mut Rng, p: &Person) -> Attack {
    let ip = public_ipv4(r);
    let (host, canon) = match r.below(3) {
        0 => (format!("{}.nip.io", dotted(ip)), dotted(ip)),
        1 => {
            let d = format!("{}-{}-{}-{}", ip[0], ip[1], ip[2], ip[3]);
            (format!("ip-{d}.ec2.internal"), d)
        }
        _ => (
            format!("{}.{}.sslip.io", r.alnum(4), dotted(ip)),
            dotted(ip),
        ),
    };
    let mut ev = p.event();
    ev["url"] = json!(format!("https://{host}/a"));
    attack(ev, vec![Canon::Folded(canon)])
}

fn url_host_browser_ipv4(r: &mut Rng, p: &Person) -> Attack {
    let ip = public_ipv4(r);
    let n = (ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3];
    let host = match r.below(6) {
        0 => n.to_string(),
        1 => format!("0x{n:x}"),
        2 => format!("0{:o}.0{:o}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
        3 => format!("{}.{}.{}", ip[0], ip[1], (ip[2] << 8) | ip[3]),
        4 => format!("0x0000000000{n:x}"),
        _ => fullwidth(&dotted(ip)),
    };
    let mut ev = p.event();
    ev["url"] = json!(format!("http://{host}/login"));
    ev["referrer"] = json!(format!("http://{host}/"));
    attack(ev, vec![Canon::Folded(host)])
}

fn url_host_user_id(r: &mut Rng, p: &Person) -> Attack {
    let mut ev = p.event();
    let label = if r.chance(0.5) {
        p.user_id.clone()
    } else {
        p.user_id.to_uppercase()
    };
    ev["url"] = json!(format!("https://{label}.shop.example.com/"));
    ev["referrer"] = json!(format!("https://{}.tracker.example/", p.device_id));
    attack(ev, vec![skel(&p.user_id), skel(&p.device_id)])
}

fn url_userinfo(r: &mut Rng, p: &Person) -> Attack {
    let mut ev = p.event();
    let user = if r.chance(0.5) {
        pct(&p.email, false)
    } else {
        p.user_id.clone()
    };
    ev["url"] = json!(format!(
        "https://{user}:{}@shop.example.com/cart",
        r.alnum(8)
    ));
    attack(ev, vec![skel(&p.email), skel(&p.user_id)])
}

fn url_scheme_id(r: &mut Rng, p: &Person) -> Attack {
    let scheme: String = p
        .user_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let mut ev = p.event();
    ev["url"] = json!(format!("{scheme}://callback/{}", r.alnum(4)));
    attack(ev, vec![skel(&p.user_id)])
}

fn url_percent_encoded(r: &mut Rng, p: &Person) -> Attack {
    let stranger_card = card(r, &[4], 16);
    let stranger_phone = format!("+44 20 {} {}", r.digits(4), r.digits(4));
    let mut ev = p.event();
    ev["url"] = json!(format!(
        "https://shop.example.com/u/{}/c/{}?utm_term={}&utm_content={}",
        pct(&p.email, r.chance(0.5)),
        pct(&group4(&stranger_card, " "), false),
        pct(&stranger_phone, r.chance(0.5)),
        pct(&pct(&p.user_id, true), false),
    ));
    prop(
        &mut ev,
        "link",
        json!(format!("https://x.example/?e={}", pct(&p.email, false))),
    );
    attack(
        ev,
        vec![
            skel(&p.email),
            skel(&stranger_card),
            skel(&stranger_phone[3..]),
            skel(&p.user_id),
        ],
    )
}

fn event_type_ids(r: &mut Rng, p: &Person) -> Attack {
    let mut ev = p.event();
    let (et, canon) = match r.below(3) {
        0 => (format!("signup_{}", p.user_id), p.user_id.clone()),
        1 => (format!("call_{}", p.national), p.national.clone()),
        _ => (format!("ip.{}", dotted(public_ipv4(r))), String::new()),
    };
    let canons = if canon.is_empty() {
        vec![Canon::Folded(et[3..].to_string())]
    } else {
        vec![skel(&canon)]
    };
    ev["event_type"] = json!(et);
    attack(ev, canons)
}

fn email_non_ascii(r: &mut Rng, p: &Person) -> Attack {
    const ADDRS: &[(&str, &str)] = &[
        ("josé.niño", "correo.es"),
        ("用户", "例子.广告"),
        ("δοκιμή", "παράδειγμα.δοκιμή"),
        ("müller", "bücher.de"),
        ("почта", "пример.рф"),
        ("françois", "société.fr"),
        ("alice😀", "example.com"),
        ("col·legi", "example.cat"),
        ("user", "i❤.ws"),
    ];
    let (local, domain) = r.pick(ADDRS);
    let email = format!("{local}{}@{domain}", r.range(10, 99));
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &email)));
    attack(ev, vec![skel(&email)])
}

fn email_fullwidth_invisible(r: &mut Rng, p: &Person) -> Attack {
    let email = format!("{}{}@{}.example", r.alnum(6), r.digits(2), r.alnum(5));
    let shown = if r.chance(0.5) {
        fullwidth(&email)
    } else {
        invisible(r, &email)
    };
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &shown)));
    attack(ev, vec![skel(&email)])
}

/// A stranger's number: country code and national number.
fn stranger_phone(r: &mut Rng) -> (String, Vec<String>) {
    match r.below(3) {
        0 => (
            "1".into(),
            vec![
                r.range(201, 989).to_string(),
                r.range(200, 999).to_string(),
                r.digits(4),
            ],
        ),
        1 => ("44".into(), vec!["20".into(), r.digits(4), r.digits(4)]),
        _ => (
            "33".into(),
            vec![
                format!("{}", r.range(1, 7)),
                r.digits(2),
                r.digits(2),
                r.digits(2),
                r.digits(2),
            ],
        ),
    }
}

fn phone_plus_dots(r: &mut Rng, p: &Person) -> Attack {
    let (cc, groups) = stranger_phone(r);
    let phone = format!("+{cc}.{}", groups.join("."));
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &phone)));
    attack(ev, vec![skel(&groups.concat())])
}

/// `0044 20 7946 0958`, `004420794609 58`. A bare one that is also a valid EAN-13 or
/// UPC-A code is a documented limit (`00…` is how US product codes begin), so the
/// generator draws again rather than plant it.
fn phone_00_prefix(r: &mut Rng, p: &Person) -> Attack {
    let bare = r.chance(0.5);
    let (cc, groups) = loop {
        let (cc, groups) = stranger_phone(r);
        let digits = format!("00{cc}{}", groups.concat());
        if !bare || !super::benign::is_barcode(&digits) {
            break (cc, groups);
        }
    };
    let phone = if bare {
        format!("00{cc}{}", groups.concat())
    } else {
        format!("00{cc} {}", groups.join(" "))
    };
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &phone)));
    attack(ev, vec![skel(&groups.concat())])
}

fn phone_national_8(r: &mut Rng, p: &Person) -> Attack {
    let d = format!("{}{}", r.pick(&["6", "8", "9", "3"]), r.digits(7));
    let phone = match r.below(3) {
        0 => format!("{} {}", &d[..4], &d[4..]),
        1 => format!("{} {} {} {}", &d[..2], &d[2..4], &d[4..6], &d[6..]),
        _ => format!("{}-{}", &d[..4], &d[4..]),
    };
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &phone)));
    attack(ev, vec![skel(&d)])
}

fn phone_unicode(r: &mut Rng, p: &Person) -> Attack {
    let (cc, groups) = stranger_phone(r);
    let sep = *r.pick(&["\u{a0}", "\u{202f}", "\u{2013}", "\u{2011}", "\u{3000}"]);
    let mut phone = format!("+{cc}{sep}{}", groups.join(sep));
    phone = match r.below(3) {
        0 => fullwidth(&phone),
        1 => script_digits(&phone, *r.pick(&DIGIT_SCRIPTS)),
        _ => phone,
    };
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &phone)));
    attack(ev, vec![skel(&groups.concat())])
}

fn stranger_card(r: &mut Rng) -> String {
    let kind = r.below(5);
    let x = r.below(5) as u8;
    match kind {
        0 => card(r, &[4], 16),
        1 => card(r, &[5, 1 + x], 16),
        2 => card(r, &[3, if x.is_multiple_of(2) { 4 } else { 7 }], 15),
        3 => card(r, &[6, 0, 1, 1], 16),
        _ => card(r, &[3, 5, 2, 8 + x % 2], 16),
    }
}

fn card_unicode(r: &mut Rng, p: &Person) -> Attack {
    let c = stranger_card(r);
    let sep = *r.pick(&[
        "\u{a0}", "\u{2013}", "\u{2009}", "\u{2007}", "\u{200b}", "\u{2212}",
    ]);
    let mut shown = group4(&c, sep);
    if r.chance(0.4) {
        shown = if r.chance(0.5) {
            fullwidth(&shown)
        } else {
            script_digits(&shown, *r.pick(&DIGIT_SCRIPTS))
        };
    }
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &shown)));
    attack(ev, vec![skel(&c)])
}

fn card_digit_groups(r: &mut Rng, p: &Person) -> Attack {
    let c = stranger_card(r);
    let shown = match (c.len(), r.below(6)) {
        (15, _) => format!("{} {} {}", &c[..4], &c[4..10], &c[10..]),
        (_, 0) => group4(&c, "."),
        (_, 1) => format!("{} {}", &c[..8], &c[8..]),
        (_, 2) => format!("{} {}-{} {}", &c[..4], &c[4..8], &c[8..12], &c[12..]),
        (_, 3) => format!("000{c}"),
        (_, 4) => {
            let sep = *r.pick(&["+", "_", ":"]);
            group4(&c, sep)
        }
        _ => group4(&c, " - "),
    };
    let mut ev = p.event();
    prop(
        &mut ev,
        "payment",
        json!({"entered": wrap(r, &shown), "qty": 2}),
    );
    attack(ev, vec![skel(&c)])
}

fn card_json_numbers(r: &mut Rng, p: &Person) -> Attack {
    let c = card(r, &[4], 16);
    let n: u64 = c.parse().unwrap_or(0);
    let v: Value = match r.below(3) {
        0 => Value::Number(Number::from(-(n as i64))),
        1 => serde_json::from_str(&format!("{c}.0")).unwrap_or(Value::Null),
        _ => serde_json::from_str(&format!("{}.{}e15", &c[..1], &c[1..])).unwrap_or(Value::Null),
    };
    let mut ev = p.event();
    prop(&mut ev, "amount_ref", json!([v]));
    attack(ev, vec![skel(&c)])
}

fn card_personal_url_query(r: &mut Rng, p: &Person) -> Attack {
    let a = stranger_card(r);
    let b = stranger_card(r);
    let mut ev = p.event();
    ev["url"] = json!(format!(
        "https://pay.example.com/checkout?first={a}&second={}",
        if r.chance(0.5) {
            pct(&group4(&b, " "), false)
        } else {
            group4(&b, "+")
        }
    ));
    let canons = vec![skel(&a), skel(&b)];
    Attack {
        event: ev,
        anonymous: canons.clone(),
        personal: canons,
    }
}

fn profile_name_layouts(r: &mut Rng, p: &Person) -> Attack {
    let name = p.name();
    let shown = match r.below(6) {
        0 => name.to_uppercase(),
        1 => format!("{}.{}", p.first, p.last).to_lowercase(),
        2 => format!("{}_{}", p.first, p.last).to_uppercase(),
        3 => fullwidth(&name),
        4 => pct(&name, false),
        _ => format!("{}\u{a0}{}", p.first, p.last),
    };
    let mut ev = p.event();
    prop(&mut ev, "greeting", json!(wrap(r, &shown)));
    attack(ev, vec![skel(&name)])
}

fn profile_email_layouts(r: &mut Rng, p: &Person) -> Attack {
    let shown = match r.below(4) {
        0 => p.email.to_uppercase(),
        1 => pct(&p.email, false),
        2 => fullwidth(&p.email),
        _ => invisible(r, &p.email),
    };
    let mut ev = p.event();
    prop(&mut ev, "contact", json!(wrap(r, &shown)));
    attack(ev, vec![skel(&p.email)])
}

fn profile_phone_layouts(r: &mut Rng, p: &Person) -> Attack {
    let n = &p.national;
    let mut ev = p.event();
    match r.below(4) {
        0 => prop(&mut ev, "phone", json!(n)),
        1 => prop(&mut ev, "phone", json!(format!("0{n}"))),
        2 => prop(&mut ev, "phone", json!(n.parse::<u64>().unwrap_or(0))),
        _ => prop(
            &mut ev,
            "phone",
            json!(format!("00{}{}", p.country_code, n)),
        ),
    }
    attack(ev, vec![skel(n)])
}

fn profile_mailing_address(r: &mut Rng, p: &Person) -> Attack {
    let mut ev = p.event();
    let (shown, canons) = match r.below(4) {
        0 => (
            p.address(),
            vec![skel(&p.street), skel(&p.postal), skel(&p.city)],
        ),
        1 => (p.street.to_uppercase(), vec![skel(&p.street)]),
        2 => (
            format!("{}\n{} {}", p.street, p.postal, p.city),
            vec![skel(&p.street), skel(&p.city)],
        ),
        _ => (
            format!("ship to {}", pct(&p.street, false)),
            vec![skel(&p.street)],
        ),
    };
    prop(&mut ev, "shipping", json!(shown));
    attack(ev, canons)
}

fn profile_bank_card_layouts(r: &mut Rng, p: &Person) -> Attack {
    let c = &p.bank_card;
    let mut ev = p.event();
    let v = match r.below(4) {
        0 => json!(group4(c, "-")),
        1 => json!(group4(c, "\u{a0}")),
        2 => json!(c.parse::<u64>().unwrap_or(0)),
        _ => json!(wrap(r, &format!("{}{}", &c[..6], &c[6..]))),
    };
    prop(&mut ev, "saved", v);
    Attack {
        event: ev,
        anonymous: vec![skel(c)],
        personal: vec![skel(c)],
    }
}

fn profile_government_id(r: &mut Rng, p: &Person) -> Attack {
    let id = &p.government_id;
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    let mut ev = p.event();
    let v = match r.below(4) {
        0 => json!(id.replace('-', " ")),
        1 => json!(digits),
        2 => json!(digits.parse::<u64>().unwrap_or(0)),
        _ => json!(wrap(r, &id.replace('-', "."))),
    };
    prop(&mut ev, "kyc", v);
    Attack {
        event: ev,
        anonymous: vec![skel(&digits)],
        personal: vec![skel(&digits)],
    }
}

fn ids_elsewhere(r: &mut Rng, p: &Person) -> Attack {
    let mut ev = p.event();
    ev["properties"] =
        json!({ p.user_id.to_uppercase(): 1, "by_device": { p.device_id.clone(): true } });
    ev["app"] = json!({"name": format!("build-{}", p.session_id), "version": "1.2.0"});
    ev["referrer"] = json!(format!("https://{}.ref.example/x", p.anonymous_id));
    if r.chance(0.5) {
        ev["language"] = json!(p.user_id);
    }
    attack(
        ev,
        vec![
            skel(&p.user_id),
            skel(&p.device_id),
            skel(&p.session_id),
            skel(&p.anonymous_id),
        ],
    )
}

fn ids_layouts(r: &mut Rng, p: &Person) -> Attack {
    let id = r
        .pick(&[
            &p.user_id,
            &p.device_id,
            &p.session_id,
            &p.event_id,
            &p.anonymous_id,
        ])
        .to_string();
    let shown = match r.below(4) {
        0 => id.to_uppercase(),
        1 => id.replace(['_', '-'], " "),
        2 => pct(&id, true),
        _ => fullwidth(&id),
    };
    let mut ev = p.event();
    prop(&mut ev, "ref", json!(wrap(r, &shown)));
    attack(ev, vec![skel(&id)])
}

fn ip_forms(r: &mut Rng, p: &Person) -> Attack {
    let ip = public_ipv4(r);
    let (shown, canon) = match r.below(5) {
        0 => {
            let padded = format!("{:03}.{:03}.{:03}.{:03}", ip[0], ip[1], ip[2], ip[3]);
            (padded.clone(), padded)
        }
        1 => (format!("::ffff:{}", dotted(ip)), dotted(ip)),
        2 => {
            let v6 = format!("2001:db8:{:x}::{:x}", r.range(1, 0xfff), r.range(1, 0xffff));
            (v6.to_uppercase(), v6)
        }
        3 => (fullwidth(&dotted(ip)), dotted(ip)),
        _ => (format!("host{}:8080", dotted(ip)), dotted(ip)),
    };
    let mut ev = p.event();
    prop(&mut ev, "origin", json!(wrap(r, &shown)));
    attack(ev, vec![Canon::Folded(canon)])
}

/// A documented limit: a stranger's phone number written as bare digits, without `+`,
/// trunk `0` or separators, is indistinguishable from a count or a size.
fn limit_bare_phone(r: &mut Rng, p: &Person) -> Attack {
    let n = format!("{}{}{}", r.range(201, 989), r.range(200, 999), r.digits(4));
    let mut ev = p.event();
    prop(&mut ev, "note", json!(wrap(r, &n)));
    attack(ev, vec![skel(&n)])
}
