//! Fuzz target: `Core::process` on events built from the fuzzer's bytes: a valid event of
//! `examples/events.jsonl` whose identifiers are set to one of the fixture's users, and
//! whose every string (keys included) may have an identifier of that user planted in it
//! — replaced, inserted at any character, or appended — in one of the written forms the
//! privacy tests use (case, full width, invisible characters, percent-encoding, other
//! separators and digit scripts). Same invariants as the `process` target; the leak check
//! is what this target is for. Test code: panics are how it reports.
#![no_main]

use consent_enricher_fuzz::{EXAMPLE_EVENTS, Fixture, check_all};
use consent_enricher_testkit::corpus::written_form;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const SEPS: [&str; 7] = [" ", ", ", "\n", "(", "/", "=", "\""];
const IPS: [&str; 4] = [
    "81.2.69.160",
    "203.0.113.7",
    "2001:db8:85a3::8a2e:370:7334",
    "175.16.199.5",
];

struct Planter<'a> {
    values: Vec<String>,
    u: Unstructured<'a>,
}

impl Planter<'_> {
    /// A planted value in a random form, between separators.
    fn value(&mut self) -> Result<String> {
        let v = self.u.choose(&self.values)?.clone();
        let f: u8 = self.u.arbitrary()?;
        let sep = *self.u.choose(&SEPS)?;
        Ok(format!("{sep}{}{sep}", written_form(&v, f)))
    }

    fn string(&mut self, s: &str) -> Result<String> {
        Ok(match self.u.int_in_range(0u8..=7)? {
            0 => self.value()?,
            1 => {
                let cuts: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
                let at = *self.u.choose(&cuts)?;
                format!("{}{}{}", &s[..at], self.value()?, &s[at..])
            }
            2 => format!("{s}{}", self.value()?),
            3 => {
                let extra: String = self.u.arbitrary()?;
                format!("{s}{extra}")
            }
            _ => s.to_string(),
        })
    }

    fn walk(&mut self, v: &mut Value) -> Result<()> {
        match v {
            Value::String(s) => *s = self.string(s)?,
            Value::Array(a) => {
                for x in a {
                    self.walk(x)?;
                }
            }
            Value::Object(m) => {
                let old = std::mem::take(m);
                let mut new = Map::new();
                for (k, mut x) in old {
                    self.walk(&mut x)?;
                    let k = if self.u.ratio(1u8, 6)? {
                        self.string(&k)?
                    } else {
                        k
                    };
                    new.insert(k, x);
                }
                if self.u.ratio(1u8, 3)? {
                    let k = self.value()?;
                    let x = self.value()?;
                    new.insert(k, Value::String(x));
                }
                *m = new;
            }
            _ => {}
        }
        Ok(())
    }
}

fn build(data: &[u8]) -> Result<(Vec<u8>, String)> {
    let f = Fixture::get();
    let mut u = Unstructured::new(data);
    let bases: Vec<&str> = EXAMPLE_EVENTS
        .lines()
        .filter(|l| l.contains("\"occurred_at\""))
        .collect();
    let mut ev: Value = serde_json::from_str(u.choose(&bases)?).unwrap_or(Value::Null);
    let Some(m) = ev.as_object_mut() else {
        return Err(libfuzzer_sys::arbitrary::Error::IncorrectFormat);
    };
    let user = u.choose(&f.users)?.clone();
    let n: u32 = u.arbitrary()?;
    let ids = [
        format!("evt-{n:08x}-q7"),
        format!("anon-{}-{n:x}", user.user_id),
        format!("dev-{n:x}-x9"),
        format!("s-{:x}", n.rotate_left(7)),
    ];
    m.insert("user_id".into(), user.user_id.clone().into());
    for (k, v) in ["event_id", "anonymous_id", "device_id", "session_id"]
        .iter()
        .zip(&ids)
    {
        m.insert((*k).into(), v.clone().into());
    }
    let ip = *u.choose(&IPS)?;
    m.insert("ip".into(), ip.into());
    let mut values: Vec<String> = ids.to_vec();
    values.push(user.user_id.clone());
    values.push(ip.to_string());
    values.extend(
        [
            &user.name,
            &user.email,
            &user.national,
            &user.bank_card,
            &user.government_id,
        ]
        .into_iter()
        .flatten()
        .cloned(),
    );
    // Another user's e-mail: found structurally, whoever's it is.
    values.extend(f.users.iter().filter_map(|o| o.email.clone()));
    let mut p = Planter { values, u };
    for k in ["url", "referrer", "user_agent", "properties", "app"] {
        if !m.contains_key(k) && p.u.ratio(1u8, 2)? {
            let v = match k {
                "properties" => Value::Object(Map::new()),
                "app" => serde_json::json!({"name": "shop", "version": "1.0", "platform": "ios"}),
                "url" | "referrer" => "https://shop.example.com/p/shoes?utm_source=x&q=y".into(),
                _ => "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0".into(),
            };
            m.insert(k.into(), v);
        }
    }
    for k in [
        "url",
        "referrer",
        "user_agent",
        "language",
        "app",
        "properties",
    ] {
        if let Some(v) = m.get_mut(k) {
            p.walk(v)?;
        }
    }
    Ok((serde_json::to_vec(&ev).unwrap_or_default(), user.user_id))
}

fuzz_target!(|data: &[u8]| {
    if let Ok((event, _user)) = build(data) {
        check_all(Fixture::get(), Some(b"k"), &event);
    }
});
