//! The benign corpus: ordinary analytics values in named classes — timestamps, barcodes,
//! digests, sizes, versions, prices, coordinates, search queries — that carry nothing
//! personal and must reach the anonymous record byte for byte. Each value is generated
//! as JSON text (a string or a number), so "byte for byte" is checked on the text.

use super::{Rng, card};

/// A named benign class.
pub struct Class {
    /// Stable name, reported per class.
    pub name: &'static str,
    make: fn(&mut Rng) -> String,
}

impl Class {
    /// One value of this class, as JSON text.
    pub fn make(&self, r: &mut Rng) -> String {
        (self.make)(r)
    }
}

fn s(v: String) -> String {
    serde_json::to_string(&v).unwrap_or_default()
}

/// Epoch seconds between 2001 and 2033, as this decade's clocks give them.
fn epoch_s(r: &mut Rng) -> u64 {
    r.range(1_000_000_000, 1_999_999_999)
}

fn epoch_ms(r: &mut Rng) -> u64 {
    epoch_s(r) * 1000 + r.below(1000)
}

/// GS1 prefixes in use (a sample across regions), for EAN-13 barcodes.
const GS1: &[u64] = &[
    0, 1, 30, 45, 49, 50, 54, 57, 69, 76, 80, 84, 87, 89, 93, 40, 41, 42, 43, 44, 46, 47, 48, 52,
    59, 64, 70, 73, 75, 77, 78, 79, 88, 90, 94, 95, 96, 97,
];

fn ean13(r: &mut Rng) -> String {
    let prefix = *r.pick(GS1) * 10 + r.below(10);
    let body = format!("{prefix:03}{}", r.digits(9));
    format!("{body}{}", ean_check(&body))
}

/// A valid EAN-13, or a UPC-A (twelve digits, an EAN-13 with its leading zero dropped).
pub fn is_barcode(digits: &str) -> bool {
    let full = match digits.len() {
        13 => digits.to_string(),
        12 => format!("0{digits}"),
        _ => return false,
    };
    full.bytes().all(|b| b.is_ascii_digit())
        && ean_check(&full[..12]) == u32::from(full.as_bytes()[12] - b'0')
}

fn ean_check(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    (10 - sum % 10) % 10
}

fn isbn(r: &mut Rng) -> String {
    if r.chance(0.5) {
        let body = format!("{}{}", r.pick(&["978", "979"]), r.digits(9));
        let isbn13 = format!("{body}{}", ean_check(&body));
        return if r.chance(0.5) {
            isbn13
        } else {
            format!(
                "{}-{}-{}-{}-{}",
                &isbn13[..3],
                &isbn13[3..4],
                &isbn13[4..7],
                &isbn13[7..12],
                &isbn13[12..]
            )
        };
    }
    let body = r.digits(9);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * (10 - i as u32))
        .sum();
    let check = (11 - sum % 11) % 11;
    let c = if check == 10 {
        "X".to_string()
    } else {
        check.to_string()
    };
    format!("{body}{c}")
}

/// Every benign class.
pub const CLASSES: &[Class] = &[
    Class {
        name: "epoch_seconds_string",
        make: |r| s(epoch_s(r).to_string()),
    },
    Class {
        name: "epoch_seconds_number",
        make: |r| epoch_s(r).to_string(),
    },
    Class {
        name: "epoch_millis_string",
        make: |r| s(epoch_ms(r).to_string()),
    },
    Class {
        name: "epoch_millis_number",
        make: |r| epoch_ms(r).to_string(),
    },
    Class {
        name: "epoch_micros_number",
        make: |r| (epoch_ms(r) * 1000 + r.below(1000)).to_string(),
    },
    Class {
        name: "ean13_barcode",
        make: |r| s(ean13(r)),
    },
    Class {
        name: "isbn",
        make: |r| s(isbn(r)),
    },
    Class {
        name: "file_size_bytes_number",
        make: |r| r.range(1 << 30, 1 << 42).to_string(),
    },
    Class {
        name: "file_size_bytes_string",
        make: |r| s(r.range(1 << 30, 1 << 42).to_string()),
    },
    Class {
        name: "build_number",
        make: |r| match r.below(3) {
            0 => s(format!(
                "{}{:02}{:02}.{}",
                r.range(2015, 2026),
                r.range(1, 12),
                r.range(1, 28),
                r.range(1, 99)
            )),
            1 => s(format!("build {}", r.range(1000, 99_999_999))),
            _ => r.range(1, 9_999_999).to_string(),
        },
    },
    Class {
        name: "hex_digest",
        make: |r| {
            let n = *r.pick(&[32, 40, 64]);
            s(r.hex(n))
        },
    },
    Class {
        name: "uuid",
        make: |r| {
            s(format!(
                "{}-{}-4{}-{}{}-{}",
                r.hex(8),
                r.hex(4),
                r.hex(3),
                r.pick(&["8", "9", "a", "b"]),
                r.hex(3),
                r.hex(12)
            ))
        },
    },
    Class {
        name: "error_code",
        make: |r| match r.below(4) {
            0 => s(format!("ERR_{}", r.digits(9))),
            1 => s(format!("E{}-{}", r.digits(4), r.digits(4))),
            2 => s(format!("0x{}", r.hex(8).to_uppercase())),
            _ => s(format!(
                "{}Exception at Foo::bar line {}",
                r.pick(&["Null", "Io", "Timeout"]),
                r.range(1, 9999)
            )),
        },
    },
    Class {
        name: "version",
        make: |r| match r.below(4) {
            0 => s(format!(
                "{}.{}.{}",
                r.range(0, 30),
                r.range(0, 30),
                r.range(0, 300)
            )),
            1 => s(format!(
                "{}.0.{}.{}",
                r.range(90, 140),
                r.range(4000, 7000),
                r.range(1, 250)
            )),
            2 => s(format!(
                "10.0.{}.{}",
                r.range(19041, 26100),
                r.range(1, 5000)
            )),
            _ => s(format!("{}.{}.0.0", r.range(1, 9), r.range(0, 9))),
        },
    },
    Class {
        name: "price",
        make: |r| match r.below(4) {
            0 => format!("{}.{:02}", r.range(1, 99_999), r.range(0, 99)),
            1 => s(format!("${}.{:02}", r.range(1, 9999), r.range(0, 99))),
            2 => s(format!(
                "{}.{:03},{:02} €",
                r.range(1, 99),
                r.range(0, 999),
                r.range(0, 99)
            )),
            _ => s(format!("{} {:03} kr", r.range(1, 99), r.range(0, 999))),
        },
    },
    Class {
        name: "coordinates",
        make: |r| {
            let lat = format!("{}.{}", r.range(0, 89), r.digits(6));
            let lon = format!("{}.{}", r.range(0, 179), r.digits(6));
            match r.below(3) {
                0 => s(format!("{lat},{lon}")),
                1 => s(format!("-{lat} {lon}")),
                _ => s(format!("{lat}, -{lon}")),
            }
        },
    },
    Class {
        name: "float_number",
        make: |r| {
            let f = (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            serde_json::to_string(&(f * 10f64.powi(r.range(0, 6) as i32))).unwrap_or_default()
        },
    },
    Class {
        name: "date_time",
        make: |r| {
            let (y, m, d) = (r.range(2000, 2030), r.range(1, 12), r.range(1, 28));
            match r.below(5) {
                0 => s(format!("{y}-{m:02}-{d:02}")),
                1 => s(format!("{d:02}.{m:02}.{y}")),
                2 => s(format!("{m:02}/{d:02}/{y}")),
                3 => s(format!(
                    "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                    r.below(24),
                    r.below(60),
                    r.below(60)
                )),
                _ => s(format!("{}-{}", r.range(1990, 2020), r.range(2021, 2030))),
            }
        },
    },
    Class {
        name: "count_and_id",
        make: |r| match r.below(4) {
            0 => s(r.range(1_000_000, 999_999_999).to_string()),
            1 => s(format!(
                "ORD-{}-{:06}",
                r.range(2020, 2026),
                r.below(1_000_000)
            )),
            2 => s(format!("1{}", r.digits(18))),
            _ => s(format!("#{}", r.range(10_000, 9_999_999))),
        },
    },
    Class {
        name: "search_query",
        make: |r| {
            const Q: &[&str] = &[
                "iphone 15 pro max 256gb",
                "hotels in paris for 2 adults",
                "running shoes size 44",
                "4k tv 65 inch",
                "flights berlin lisbon 12 may",
                "rtx 4090 vs 4080",
                "how to fix error 0x80070005",
                "ikea kallax 77x147",
                "best pizza near me",
                "usb-c hub 7 in 1",
                "ps5 slim 1tb",
                "windows 11 24h2 update",
            ];
            s(r.pick(Q).to_string())
        },
    },
    Class {
        name: "percent_and_units",
        make: |r| match r.below(4) {
            0 => s(format!("{}%", r.range(0, 100))),
            1 => s(format!("{}.{}% off", r.range(1, 99), r.range(0, 9))),
            2 => s(format!("{} ms", r.range(1, 99_999))),
            _ => s(format!(
                "{}x{}",
                r.pick(&["1920", "2560", "3840"]),
                r.pick(&["1080", "1440", "2160"])
            )),
        },
    },
    Class {
        name: "luhn_valid_non_card",
        // A Luhn-valid number outside every card brand's range (an IMEI, a SIM serial).
        make: |r| {
            let third = r.below(2) as u8;
            s(card(r, &[3, 5, third], 15))
        },
    },
];
