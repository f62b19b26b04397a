//! Load generator: a deterministic synthetic population (consent records, profiles, erasure
//! requests) and the raw usage events it produces, rendered as Kafka records in the v1 wire
//! contract of DESIGN.md, plus the ground truth (`summary`) that end-to-end checks compare
//! the worker's output with.
//!
//! It owns the population model, the JSON encoding of the four input topics and the
//! bad-input mix. It must not do I/O — no files, sockets, clocks or environment: it only
//! yields [`GenRecord`]s and the CLI / Kafka edges write them. The same [`GenConfig`] must give
//! bit-identical bytes on every platform, so it carries its own PRNG (SplitMix64, no `rand`),
//! prints every number from integers, and never calls a floating-point function whose
//! result could differ between libm implementations (only `+ * <` on `f64`). Events are
//! generated one at a time from `(seed, index)`, never held in memory, so any count streams.

use std::ops::Range;

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/// 2026-11-01T00:00:00Z: a fixed default so that runs without a configured start are
/// reproducible (the generator never reads the clock).
pub const DEFAULT_START_MS: i64 = 1_793_491_200_000;

/// What to generate. Shares are fractions in `[0, 1]`; out-of-range values are clamped and
/// NaN counts as 0. The four consent shares are cumulative in the order granted, denied,
/// withdrawn, erased; if they add up to more than 1 the later ones are cut short.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    pub users: u64,
    pub events: u64,
    /// Events carrying a `user_id` (the rest only an anonymous id). With `users == 0` every
    /// event is anonymous.
    pub identified_share: f64,
    /// Users whose analytics consent is granted and stays granted.
    pub consent_granted: f64,
    /// Users with a consent record that does not grant analytics.
    pub consent_denied: f64,
    /// Users who granted and later withdrew: a grant followed by either a record with
    /// `analytics: false` and a later `updated_at`, or a tombstone (both kinds occur).
    pub consent_withdrawn: f64,
    /// Users who granted and later asked for erasure (`requested_at` after the grant).
    pub erased: f64,
    pub ip_share: f64,
    pub device_location_share: f64,
    /// Raw events that are bad inputs (truncated JSON, invalid UTF-8, missing `event_id`,
    /// wrong types, bad `event_type`, bad `occurred_at`, not an object).
    pub malformed: f64,
    /// Events start here and advance ~250 ms per event; every consent, profile and erasure
    /// record is dated at least a day before it. Clamped to years 1972..=8000.
    pub start_time_ms: i64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            users: 1000,
            events: 10_000,
            identified_share: 0.6,
            consent_granted: 0.5,
            consent_denied: 0.2,
            consent_withdrawn: 0.1,
            erased: 0.05,
            ip_share: 0.3,
            device_location_share: 0.1,
            malformed: 0.01,
            start_time_ms: DEFAULT_START_MS,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenTopic {
    Consent,
    Profile,
    Erasure,
    Raw,
}

impl GenTopic {
    /// The default topic name from DESIGN.md (topics are configurable; this is only the default).
    pub fn default_name(self) -> &'static str {
        match self {
            GenTopic::Consent => "users.consent",
            GenTopic::Profile => "users.profile",
            GenTopic::Erasure => "users.erasure",
            GenTopic::Raw => "usage.raw",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenRecord {
    pub topic: GenTopic,
    pub key: Option<String>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Ground truth for a config. `identified` and `expected_personal` count only valid events:
/// a malformed event is dead-lettered whatever user it names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    pub users: u64,
    pub events: u64,
    pub malformed: u64,
    /// Valid events carrying a `user_id`.
    pub identified: u64,
    /// Valid events with a `user_id` whose user's final state (every consent and erasure
    /// record applied before any event) grants `analytics` and is not erased.
    pub expected_personal: u64,
}

/// Every consent record (for withdrawn users the grant, then the withdrawal record or
/// tombstone), then profiles for ~80% of users, then erasure requests. All dated before
/// `start_time_ms`, so applying them in any order before the events gives the final state.
pub fn state_records(cfg: &GenConfig) -> impl Iterator<Item = GenRecord> + use<> {
    let m = Model::new(cfg);
    let consent = (0..m.users).flat_map(move |u| consent_records(&m, u).into_iter().flatten());
    let profiles = (0..m.users).filter_map(move |u| profile_record(&m, u));
    let erasures = (0..m.users).filter_map(move |u| erasure_record(&m, u));
    consent.chain(profiles).chain(erasures)
}

/// `cfg.events` raw events, generated lazily one by one.
pub fn events(cfg: &GenConfig) -> impl Iterator<Item = GenRecord> + use<> {
    events_range(cfg, 0..cfg.events)
}

/// The events with these indices — exactly the records `events(cfg)` yields at those
/// positions, because each event depends only on `(seed, index)`. Lets producers shard
/// generation across threads. The range is cut to `0..cfg.events`.
pub fn events_range(cfg: &GenConfig, range: Range<u64>) -> impl Iterator<Item = GenRecord> + use<> {
    let m = Model::new(cfg);
    let end = range.end.min(m.events);
    (range.start.min(end)..end).map(move |i| make_event(&m, i))
}

/// The ground truth, from the same per-event draws as `events` but without rendering them.
pub fn summary(cfg: &GenConfig) -> GenSummary {
    let m = Model::new(cfg);
    let mut s = GenSummary {
        users: m.users,
        events: m.events,
        ..GenSummary::default()
    };
    for i in 0..m.events {
        let (plan, _) = plan_event(&m, i);
        if plan.malformed {
            s.malformed += 1;
        } else if let Actor::User(u) = plan.actor {
            s.identified += 1;
            if category_of(&m, u) == Category::Granted {
                s.expected_personal += 1;
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser: a bijection on u64, which is what makes ids derived from an
/// index unique without bookkeeping.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64. Every entity (user, visitor, event, …) gets its own stream from
/// `(seed, tag, index)`, so anything can be regenerated on its own in any order.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn stream(seed: u64, tag: u64, index: u64) -> Self {
        Rng(mix64(mix64(seed ^ tag.wrapping_mul(GOLDEN)) ^ index))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in [0, 1) with 53 bits: exact, so comparisons are platform-independent.
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Uniform in 0..n by multiply-high (bias < n / 2^64, irrelevant here); 0 when n == 0.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn below_i64(&mut self, n: i64) -> i64 {
        self.below(n.max(0) as u64) as i64
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Tables are static and non-empty (checked by `tables_are_well_formed`).
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    fn pick_ref<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// Index into `weights`, proportional to the weights (non-empty, positive total).
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (k, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return k;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }
}

// Stream tags: one per independent kind of draw.
const TAG_USER: u64 = 1;
const TAG_VISITOR: u64 = 2;
const TAG_EVENT: u64 = 3;
const TAG_CONSENT: u64 = 4;
const TAG_PROFILE: u64 = 5;
const TAG_ERASURE: u64 = 6;
const TAG_USER_ID: u64 = 7;
const TAG_EVENT_ID: u64 = 8;
const TAG_PERSON_DETAIL: u64 = 9;

// ---------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Average spacing of events: 1M events cover ~3 days.
const EVENT_SPACING_MS: i64 = 250;
/// State records go back up to ~1.5 years, so the start must leave room after 1970.
const MIN_START_MS: i64 = 2 * 365 * DAY_MS;
/// Leaves room for a huge event count before year 9999 (RFC 3339's limit).
const MAX_START_MS: i64 = 189_000_000_000_000;
const SESSION_MS: i64 = 30 * MINUTE_MS;

/// The config, sanitised once.
#[derive(Clone, Copy, Debug)]
struct Model {
    seed: u64,
    users: u64,
    events: u64,
    /// Anonymous visitors are a separate, larger pool than users, as on a real site.
    visitors: u64,
    identified: f64,
    /// Cumulative consent shares: granted, +denied, +withdrawn, +erased.
    consent_cum: [f64; 4],
    ip: f64,
    device_location: f64,
    malformed: f64,
    start_ms: i64,
}

fn share(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

impl Model {
    fn new(cfg: &GenConfig) -> Self {
        let mut acc = 0.0;
        let mut consent_cum = [0.0; 4];
        let shares = [
            cfg.consent_granted,
            cfg.consent_denied,
            cfg.consent_withdrawn,
            cfg.erased,
        ];
        for (slot, s) in consent_cum.iter_mut().zip(shares) {
            acc = (acc + share(s)).min(1.0);
            *slot = acc;
        }
        Self {
            seed: cfg.seed,
            users: cfg.users,
            events: cfg.events,
            visitors: cfg.users.saturating_mul(2).max(100),
            identified: share(cfg.identified_share),
            consent_cum,
            ip: share(cfg.ip_share),
            device_location: share(cfg.device_location_share),
            malformed: share(cfg.malformed),
            start_ms: cfg.start_time_ms.clamp(MIN_START_MS, MAX_START_MS),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Granted,
    Denied,
    Withdrawn,
    Erased,
    NoConsent,
}

fn category_from(m: &Model, x: f64) -> Category {
    let c = m.consent_cum;
    if x < c[0] {
        Category::Granted
    } else if x < c[1] {
        Category::Denied
    } else if x < c[2] {
        Category::Withdrawn
    } else if x < c[3] {
        Category::Erased
    } else {
        Category::NoConsent
    }
}

/// Must stay the first draw of the user's stream (`Person::new` makes the same draw).
fn category_of(m: &Model, u: u64) -> Category {
    category_from(m, Rng::stream(m.seed, TAG_USER, u).f64())
}

/// `u_` + 13 base36 digits of a bijection of the index: unique per seed, unguessable order.
fn user_id(m: &Model, u: u64) -> String {
    let mut s = String::with_capacity(15);
    s.push_str("u_");
    push_base36(&mut s, mix64(u ^ mix64(m.seed ^ TAG_USER_ID)), 13);
    s
}

/// Everything stable about a user or anonymous visitor, so that their events and profile
/// agree (same country, device, browser, language, e-mail).
struct Person {
    /// Stable per person; sessions and dynamic IPs are derived from it.
    key: u64,
    has_profile: bool,
    locale: &'static Locale,
    city: &'static City,
    first: Name,
    last: Name,
    email_suffix: u64,
    email_domain: &'static str,
    language: &'static str,
    ua: &'static UserAgent,
    app_version: &'static str,
    anon: (u64, u64),
    device: (u64, u64),
    v4: (u32, u8),
}

impl Person {
    fn new(m: &Model, tag: u64, idx: u64) -> Self {
        let mut r = Rng::stream(m.seed, tag, idx);
        // The first draw is the consent category (`category_of`); consent records read it
        // from there, but it is still consumed here so the two streams stay aligned.
        r.next_u64();
        let has_profile = r.chance(0.8);
        let locale = &LOCALES[r.weighted(&LOCALE_WEIGHTS)];
        let ua = &USER_AGENTS[r.weighted(&UA_WEIGHTS)];
        let versions = match ua.platform {
            Platform::Web => &WEB_VERSIONS,
            Platform::Ios => &IOS_VERSIONS,
            Platform::Android => &ANDROID_VERSIONS,
        };
        Person {
            key: r.next_u64(),
            has_profile,
            locale,
            city: r.pick_ref(locale.cities),
            first: r.pick(locale.first),
            last: r.pick(locale.last),
            email_suffix: r.below(120),
            email_domain: r.pick(MAIL_DOMAINS),
            language: r.pick(locale.languages),
            ua,
            app_version: r.pick(versions),
            anon: (r.next_u64(), r.next_u64()),
            device: (r.next_u64(), r.next_u64()),
            v4: r.pick(locale.v4),
        }
    }

    /// `first.last42@example.com`; the domains are RFC 2606 reserved ones so that no real
    /// mailbox can ever be named by generated data.
    fn email(&self) -> String {
        let mut s = String::with_capacity(40);
        s.push_str(self.first.1);
        s.push('.');
        s.push_str(self.last.1);
        if self.email_suffix < 100 {
            push_dec(&mut s, self.email_suffix);
        }
        s.push('@');
        s.push_str(self.email_domain);
        s
    }

    fn detail_rng(&self) -> Rng {
        Rng::stream(self.key, TAG_PERSON_DETAIL, 0)
    }

    fn phone(&self) -> String {
        fill_pattern(&mut self.detail_rng(), self.locale.phone)
    }

    fn display_name(&self) -> String {
        let mut s = String::with_capacity(32);
        s.push_str(self.first.0);
        s.push(' ');
        s.push_str(self.last.0);
        s
    }

    fn anonymous_id(&self) -> String {
        let mut s = String::with_capacity(36);
        push_uuid(&mut s, self.anon.0, self.anon.1, false);
        s
    }

    /// Web: a first-party cookie id; iOS: an IDFV (upper-case UUID); Android: ANDROID_ID.
    fn device_id(&self) -> String {
        let mut s = String::with_capacity(40);
        match self.ua.platform {
            Platform::Web => {
                s.push_str("d_");
                push_base62(&mut s, self.device.0, 11);
                push_base62(&mut s, self.device.1, 11);
            }
            Platform::Ios => push_uuid(&mut s, self.device.0, self.device.1, true),
            Platform::Android => push_hex(&mut s, self.device.0, 16),
        }
        s
    }
}

// ---------------------------------------------------------------------------------------
// State topics
// ---------------------------------------------------------------------------------------

/// When the user granted, and when they later withdrew or asked for erasure: the grant is
/// 2–182 days before the start, the later action between it and a day before the start.
fn consent_times(m: &Model, u: u64) -> (i64, i64) {
    let mut r = Rng::stream(m.seed, TAG_CONSENT, u);
    let grant = m.start_ms - 2 * DAY_MS - r.below_i64(180 * DAY_MS);
    let later = grant + HOUR_MS + r.below_i64(m.start_ms - DAY_MS - grant - HOUR_MS);
    (grant, later)
}

fn consent_records(m: &Model, u: u64) -> [Option<GenRecord>; 2] {
    let category = category_of(m, u);
    if category == Category::NoConsent {
        return [None, None];
    }
    let (grant_at, later_at) = consent_times(m, u);
    // A separate stream from the times, so tweaking one never shifts the other.
    let mut r = Rng::stream(m.seed, TAG_CONSENT, u ^ (1 << 63));
    let uid = user_id(m, u);
    let record = |at: i64, purposes: [Option<bool>; 4]| GenRecord {
        topic: GenTopic::Consent,
        key: Some(uid.clone()),
        value: Some(consent_json(&uid, at, purposes)),
    };
    let granted = [
        Some(true),
        Some(r.chance(0.7)),
        Some(r.chance(0.4)),
        Some(r.chance(0.15)),
    ];
    match category {
        Category::Denied => {
            // Denials often come from older SDKs that omit purposes; missing = not granted.
            let third_party = if r.chance(0.2) { None } else { Some(false) };
            let purposes = [
                Some(false),
                Some(r.chance(0.2)),
                Some(r.chance(0.1)),
                third_party,
            ];
            [Some(record(grant_at, purposes)), None]
        }
        Category::Withdrawn => {
            let withdrawal = if r.chance(0.5) {
                GenRecord {
                    topic: GenTopic::Consent,
                    key: Some(uid.clone()),
                    value: None,
                }
            } else {
                record(later_at, [Some(false); 4])
            };
            [Some(record(grant_at, granted)), Some(withdrawal)]
        }
        _ => [Some(record(grant_at, granted)), None],
    }
}

const PURPOSES: [&str; 4] = [
    "analytics",
    "personalization",
    "marketing",
    "third_party_sharing",
];

fn consent_json(uid: &str, at: i64, purposes: [Option<bool>; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    lit(&mut out, b"{\"user_id\":");
    push_str(&mut out, uid);
    lit(&mut out, b",\"updated_at\":");
    push_time(&mut out, at, None);
    lit(&mut out, b",\"policy_version\":\"2026-01\",\"purposes\":{");
    let mut first = true;
    for (name, granted) in PURPOSES.iter().zip(purposes) {
        if let Some(g) = granted {
            if !first {
                out.push(b',');
            }
            first = false;
            push_str(&mut out, name);
            out.push(b':');
            push_bool(&mut out, g);
        }
    }
    lit(&mut out, b"}}");
    out
}

fn profile_record(m: &Model, u: u64) -> Option<GenRecord> {
    let p = Person::new(m, TAG_USER, u);
    if !p.has_profile {
        return None;
    }
    let mut r = Rng::stream(m.seed, TAG_PROFILE, u);
    let uid = user_id(m, u);
    let loc = p.locale;
    let mut out = Vec::with_capacity(900);
    lit(&mut out, b"{\"user_id\":");
    push_str(&mut out, &uid);
    lit(&mut out, b",\"updated_at\":");
    push_time(
        &mut out,
        m.start_ms - DAY_MS - r.below_i64(365 * DAY_MS),
        None,
    );
    lit(&mut out, b",\"name\":");
    push_str(&mut out, &p.display_name());
    lit(&mut out, b",\"email\":");
    push_str(&mut out, &p.email());
    lit(&mut out, b",\"phone\":");
    push_str(&mut out, &p.phone());

    lit(&mut out, b",\"mailing_address\":{\"street\":");
    let street = r.pick(loc.streets);
    let number = r.between(1, 240);
    let mut line = String::with_capacity(48);
    if loc.number_first {
        push_dec(&mut line, number);
        line.push(' ');
        line.push_str(street);
    } else {
        line.push_str(street);
        line.push(' ');
        push_dec(&mut line, number);
    }
    push_str(&mut out, &line);
    if r.chance(0.2) {
        lit(&mut out, b",\"line2\":");
        let mut apt = String::from("Apt ");
        push_dec(&mut apt, r.between(1, 48));
        push_str(&mut out, &apt);
    }
    lit(&mut out, b",\"city\":");
    push_str(&mut out, p.city.name);
    lit(&mut out, b",\"region\":");
    push_str(&mut out, p.city.region);
    lit(&mut out, b",\"postal_code\":");
    push_str(&mut out, &fill_pattern(&mut r, loc.postal));
    lit(&mut out, b",\"country\":");
    push_str(&mut out, loc.country);

    lit(&mut out, b"},\"preferences\":{\"language\":");
    push_str(&mut out, p.language);
    lit(&mut out, b",\"currency\":");
    push_str(&mut out, loc.currency);
    lit(&mut out, b",\"theme\":");
    push_str(&mut out, r.pick(&["light", "dark", "system"]));
    lit(&mut out, b",\"newsletter\":");
    push_bool(&mut out, r.chance(0.35));
    lit(&mut out, b",\"notifications\":{\"email\":");
    push_bool(&mut out, r.chance(0.6));
    lit(&mut out, b",\"sms\":");
    push_bool(&mut out, r.chance(0.15));
    lit(&mut out, b",\"push\":");
    push_bool(&mut out, r.chance(0.5));
    lit(&mut out, b"},\"favorite_categories\":[");
    let n = r.between(0, 3);
    for k in 0..n {
        if k > 0 {
            out.push(b',');
        }
        push_str(&mut out, r.pick(CATEGORIES));
    }
    out.push(b']');
    if r.chance(0.3) {
        lit(&mut out, b"},\"bank_card\":");
        push_str(&mut out, &card_number(&mut r));
        lit(&mut out, b",\"government_id\":");
        push_str(&mut out, &fill_pattern(&mut r, loc.gov_id));
    } else {
        out.push(b'}');
    }
    out.push(b'}');
    Some(GenRecord {
        topic: GenTopic::Profile,
        key: Some(uid),
        value: Some(out),
    })
}

fn erasure_record(m: &Model, u: u64) -> Option<GenRecord> {
    if category_of(m, u) != Category::Erased {
        return None;
    }
    let (_, requested_at) = consent_times(m, u);
    let mut r = Rng::stream(m.seed, TAG_ERASURE, u);
    let uid = user_id(m, u);
    let mut request_id = String::with_capacity(36);
    push_uuid(&mut request_id, r.next_u64(), r.next_u64(), false);
    let mut out = Vec::with_capacity(120);
    lit(&mut out, b"{\"user_id\":");
    push_str(&mut out, &uid);
    lit(&mut out, b",\"request_id\":");
    push_str(&mut out, &request_id);
    lit(&mut out, b",\"requested_at\":");
    push_time(&mut out, requested_at, None);
    out.push(b'}');
    Some(GenRecord {
        topic: GenTopic::Erasure,
        key: Some(uid),
        value: Some(out),
    })
}

/// 16 digits behind a well-known test BIN (never a real issuer's range), Luhn-valid so the
/// worker's card detector has to catch it.
fn card_number(r: &mut Rng) -> String {
    const BINS: [&[u8; 6]; 5] = [b"411111", b"424242", b"555555", b"400005", b"222300"];
    let mut d = [0u8; 16];
    let bin: &[u8; 6] = r.pick(&BINS);
    d[..6].copy_from_slice(bin);
    for x in &mut d[6..15] {
        *x = b'0' + r.below(10) as u8;
    }
    // Luhn: double every second digit counting from the check digit's left neighbour.
    let mut sum = 0u32;
    for (k, &c) in d[..15].iter().enumerate() {
        let mut x = u32::from(c - b'0');
        if (15 - k) % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    d[15] = b'0' + ((10 - sum % 10) % 10) as u8;
    d.iter().map(|&b| b as char).collect()
}

// ---------------------------------------------------------------------------------------
// Raw events
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    User(u64),
    Visitor(u64),
}

struct EventPlan {
    malformed: bool,
    actor: Actor,
}

/// The draws `summary` needs, made first so it can skip rendering. The returned stream
/// continues where the plan left off.
fn plan_event(m: &Model, i: u64) -> (EventPlan, Rng) {
    let mut r = Rng::stream(m.seed, TAG_EVENT, i);
    let malformed = r.chance(m.malformed);
    let identified = r.chance(m.identified) && m.users > 0;
    let x = r.f64();
    // Cubing a uniform draw skews activity: ~46% of identified events come from the
    // most active 10% of users (P(x³ < 0.1) = 0.1^⅓), a long tail barely shows up.
    let actor = if identified {
        Actor::User(((x * x * x * m.users as f64) as u64).min(m.users - 1))
    } else {
        Actor::Visitor(((x * x * m.visitors as f64) as u64).min(m.visitors - 1))
    };
    (EventPlan { malformed, actor }, r)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    PageView,
    Click,
    Search,
    Login,
    Download,
    Purchase,
    SurveyResponse,
}

const EVENT_TYPES: [(EventType, &str, u32); 7] = [
    (EventType::PageView, "page_view", 40),
    (EventType::Click, "click", 22),
    (EventType::Search, "search", 13),
    (EventType::Login, "login", 8),
    (EventType::Download, "download", 7),
    (EventType::Purchase, "purchase", 6),
    (EventType::SurveyResponse, "survey_response", 4),
];
const EVENT_TYPE_WEIGHTS: [u32; 7] = [40, 22, 13, 8, 7, 6, 4];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Malformation {
    Truncated,
    InvalidUtf8,
    MissingEventId,
    WrongType(WrongType),
    BadEventType,
    BadOccurredAt,
    NotObject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WrongType {
    EventIdNumber,
    EventTypeNumber,
    /// Epoch millis instead of a string: the classic producer bug.
    OccurredAtEpoch,
    UserIdNumber,
    /// Double-encoded JSON: an object serialised into a string.
    PropertiesString,
}

fn pick_malformation(r: &mut Rng) -> Malformation {
    match r.below(7) {
        0 => Malformation::Truncated,
        1 => Malformation::InvalidUtf8,
        2 => Malformation::MissingEventId,
        3 => Malformation::WrongType(r.pick(&[
            WrongType::EventIdNumber,
            WrongType::EventTypeNumber,
            WrongType::OccurredAtEpoch,
            WrongType::UserIdNumber,
            WrongType::PropertiesString,
        ])),
        4 => Malformation::BadEventType,
        5 => Malformation::BadOccurredAt,
        _ => Malformation::NotObject,
    }
}

/// The page a page view or click happens on.
#[derive(Clone, Copy)]
enum Page {
    Home,
    Category(&'static str),
    Product(&'static Product),
    Deals,
    Help(&'static str),
    Cart,
}

impl Page {
    fn pick(r: &mut Rng) -> Page {
        match r.weighted(&[15, 25, 40, 8, 5, 7]) {
            0 => Page::Home,
            1 => Page::Category(r.pick(CATEGORIES)),
            2 => Page::Product(r.pick_ref(PRODUCTS)),
            3 => Page::Deals,
            4 => Page::Help(r.pick(HELP_TOPICS)),
            _ => Page::Cart,
        }
    }

    fn template(self) -> &'static str {
        match self {
            Page::Home => "home",
            Page::Category(_) => "plp",
            Page::Product(_) => "pdp",
            Page::Deals => "campaign",
            Page::Help(_) => "help",
            Page::Cart => "cart",
        }
    }

    fn write_path(self, out: &mut Vec<u8>) {
        match self {
            Page::Home => out.push(b'/'),
            Page::Category(c) => {
                lit(out, b"/c/");
                lit(out, c.as_bytes());
            }
            Page::Product(p) => {
                lit(out, b"/p/");
                lit(out, p.slug.as_bytes());
            }
            Page::Deals => lit(out, b"/deals"),
            Page::Help(t) => {
                lit(out, b"/help/");
                lit(out, t.as_bytes());
            }
            Page::Cart => lit(out, b"/cart"),
        }
    }

    fn title(self) -> String {
        match self {
            Page::Home => "Shop Example – Online Store".to_string(),
            Page::Category(c) => format!("{c} | Shop Example"),
            Page::Product(p) => format!("{} | Shop Example", p.name),
            Page::Deals => "Deals of the week – up to 50 % off".to_string(),
            Page::Help(t) => format!("Help: {t}"),
            Page::Cart => "Your cart".to_string(),
        }
    }

    fn section(self) -> &'static str {
        match self {
            Page::Category(c) => c,
            Page::Product(p) => p.category,
            Page::Help(_) => "help",
            _ => "storefront",
        }
    }
}

/// Per-event choices shared by the URL and the properties.
struct Detail {
    t: i64,
    /// The sender's agent: the person's, or a crawler's.
    ua: &'static UserAgent,
    page: Page,
    /// Index into PRODUCTS of the product the event is about.
    product: usize,
    download: (&'static str, &'static str),
    order: u64,
    query: String,
}

fn make_event(m: &Model, i: u64) -> GenRecord {
    let (plan, mut r) = plan_event(m, i);
    let mut t =
        m.start_ms + (i.min(1 << 40) as i64) * EVENT_SPACING_MS + r.below_i64(5 * SECOND_MS);
    if r.chance(0.01) {
        // Late arrivals: a few events reach the topic minutes after their time.
        t = (t - r.below_i64(10 * MINUTE_MS)).max(m.start_ms);
    }
    let bot = matches!(plan.actor, Actor::Visitor(_)) && r.chance(0.03);
    let (etype, etype_name, _) = if bot {
        EVENT_TYPES[0]
    } else {
        EVENT_TYPES[r.weighted(&EVENT_TYPE_WEIGHTS)]
    };
    let p = match plan.actor {
        Actor::User(u) => Person::new(m, TAG_USER, u),
        Actor::Visitor(v) => Person::new(m, TAG_VISITOR, v),
    };
    let uid = match plan.actor {
        Actor::User(u) => Some(user_id(m, u)),
        Actor::Visitor(_) => None,
    };
    // Bots carry no cookies; a few SDK builds send anonymous events without an id.
    let anon = (!bot && (uid.is_none() || r.chance(0.97))).then(|| p.anonymous_id());
    let key = match (&uid, &anon) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(a)) if r.chance(0.9) => Some(a.clone()),
        _ => None,
    };
    let fault = plan.malformed.then(|| pick_malformation(&mut r));
    let ua = if bot { r.pick_ref(BOT_AGENTS) } else { p.ua };

    let query = if etype == EventType::Search {
        free_text(&mut r, &p, SEARCH_QUERIES, 0.08, 0.04, 0.0)
    } else {
        String::new()
    };
    let d = Detail {
        page: Page::pick(&mut r),
        t,
        ua,
        product: r.below(PRODUCTS.len() as u64) as usize,
        download: r.pick(DOWNLOADS),
        order: r.next_u64(),
        query,
    };

    let mut out = Vec::with_capacity(1536);
    out.push(b'{');
    match fault {
        Some(Malformation::MissingEventId) => {}
        Some(Malformation::WrongType(WrongType::EventIdNumber)) => {
            lit(&mut out, b"\"event_id\":");
            push_u64(&mut out, i + 1);
            out.push(b',');
        }
        _ => {
            lit(&mut out, b"\"event_id\":\"");
            let v = mix64(i ^ mix64(m.seed ^ TAG_EVENT_ID));
            let mut id = String::with_capacity(36);
            let (hi, lo) = unique_uuid(v, r.next_u64());
            push_uuid(&mut id, hi, lo, false);
            lit(&mut out, id.as_bytes());
            lit(&mut out, b"\",");
        }
    }
    lit(&mut out, b"\"event_type\":");
    match fault {
        Some(Malformation::BadEventType) => push_str(&mut out, r.pick(BAD_EVENT_TYPES)),
        Some(Malformation::WrongType(WrongType::EventTypeNumber)) => push_u64(&mut out, r.below(8)),
        _ => push_str(&mut out, etype_name),
    }
    lit(&mut out, b",\"occurred_at\":");
    let travel = r.chance(0.08);
    let city = if travel {
        let elsewhere = r.pick_ref(&LOCALES);
        r.pick_ref(elsewhere.cities)
    } else {
        p.city
    };
    match fault {
        Some(Malformation::BadOccurredAt) => push_str(&mut out, r.pick(BAD_TIMES)),
        Some(Malformation::WrongType(WrongType::OccurredAtEpoch)) => push_i64(&mut out, t),
        _ => {
            // Most producers send UTC; some SDKs send device-local time with its offset.
            let offset = r.chance(0.12).then_some(city.offset_min);
            push_time(&mut out, t, offset);
        }
    }
    if let Some(u) = &uid {
        lit(&mut out, b",\"user_id\":");
        if fault == Some(Malformation::WrongType(WrongType::UserIdNumber)) {
            push_u64(&mut out, r.below(1_000_000));
        } else {
            push_str(&mut out, u);
        }
    } else if fault == Some(Malformation::WrongType(WrongType::UserIdNumber)) {
        lit(&mut out, b",\"user_id\":");
        push_u64(&mut out, r.below(1_000_000));
    }
    if let Some(a) = &anon {
        lit(&mut out, b",\"anonymous_id\":");
        push_str(&mut out, a);
    }
    if !bot && r.chance(0.9) {
        lit(&mut out, b",\"device_id\":");
        push_str(&mut out, &p.device_id());
    }
    if !bot && r.chance(0.97) {
        lit(&mut out, b",\"session_id\":\"s_");
        let mut s = String::with_capacity(16);
        push_base36(&mut s, mix64(p.key ^ (t / SESSION_MS) as u64), 13);
        lit(&mut out, s.as_bytes());
        out.push(b'"');
    }
    if r.chance(m.ip) {
        lit(&mut out, b",\"ip\":\"");
        write_ip(&mut out, &mut r, &p, bot, t);
        out.push(b'"');
    }
    if ua.platform == Platform::Web || r.chance(0.8) {
        lit(&mut out, b",\"user_agent\":");
        push_str(&mut out, ua.ua);
    }
    if !bot && r.chance(0.95) {
        lit(&mut out, b",\"language\":");
        push_str(&mut out, p.language);
    }
    lit(&mut out, b",\"url\":\"https://shop.example.com");
    write_url_rest(&mut out, &mut r, etype, &d, &p);
    if !bot && r.chance(0.4) {
        lit(&mut out, b",\"referrer\":");
        push_str(&mut out, r.pick(REFERRERS));
    }
    if !bot && r.chance(m.device_location) {
        // Device-reported: the city centre jittered by up to ~3 km, accuracy mostly GPS-like.
        lit(&mut out, b",\"location\":{\"lat\":");
        push_fixed(
            &mut out,
            i64::from(city.lat) + r.below_i64(60_001) - 30_000,
            6,
        );
        lit(&mut out, b",\"lon\":");
        push_fixed(
            &mut out,
            i64::from(city.lon) + r.below_i64(60_001) - 30_000,
            6,
        );
        lit(&mut out, b",\"accuracy_m\":");
        let tenths = if r.chance(0.8) {
            30 + r.below_i64(3000)
        } else {
            3000 + r.below_i64(50_000)
        };
        push_fixed(&mut out, tenths, 1);
        out.push(b'}');
    }
    // Crawlers run no SDK, so they send no app block.
    if !bot && (ua.platform != Platform::Web || r.chance(0.7)) {
        let (name, platform) = match ua.platform {
            Platform::Web => ("shop-web", "web"),
            Platform::Ios => ("shop-ios", "ios"),
            Platform::Android => ("shop-android", "android"),
        };
        lit(&mut out, b",\"app\":{\"name\":");
        push_str(&mut out, name);
        lit(&mut out, b",\"version\":");
        push_str(&mut out, p.app_version);
        lit(&mut out, b",\"platform\":");
        push_str(&mut out, platform);
        out.push(b'}');
    }
    lit(&mut out, b",\"properties\":");
    if fault == Some(Malformation::WrongType(WrongType::PropertiesString)) {
        let mut inner = Vec::with_capacity(600);
        write_properties(&mut inner, &mut r, etype, &d, &p, uid.is_some());
        push_str(&mut out, &String::from_utf8_lossy(&inner));
    } else {
        write_properties(&mut out, &mut r, etype, &d, &p, uid.is_some());
    }
    out.push(b'}');

    match fault {
        Some(Malformation::Truncated) => {
            // A strict prefix of an object is never valid JSON.
            let cut = 1 + r.below(out.len() as u64 - 1) as usize;
            out.truncate(cut);
        }
        Some(Malformation::InvalidUtf8) => {
            // Inside the URL string, where a legacy producer's Latin-1 or a broken
            // re-encoding would land; each sequence is invalid UTF-8 on its own.
            let bad: &[u8] = r.pick(&[&[0xFF][..], &[0xC3, 0x28], &[0xE9], &[0xED, 0xA0, 0x80]]);
            let pos = find(&out, b"\"url\":\"https://").map_or(2, |p| p + 15);
            out.splice(pos..pos, bad.iter().copied());
        }
        Some(Malformation::NotObject) => match r.below(5) {
            0 => {
                // A batch sent as one record.
                out.insert(0, b'[');
                out.push(b']');
            }
            1 => out = b"\"page_view\"".to_vec(),
            2 => out = b"42".to_vec(),
            3 => out = b"null".to_vec(),
            _ => out = b"true".to_vec(),
        },
        _ => {}
    }
    GenRecord {
        topic: GenTopic::Raw,
        key,
        value: Some(out),
    }
}

const BAD_EVENT_TYPES: &[&str] = &[
    "Page View",
    "",
    "purchase!",
    "CLICK",
    "clíck",
    "page-view",
    "an_event_type_that_is_far_too_long_to_be_accepted_by_the_contract_x",
];

const BAD_TIMES: &[&str] = &[
    "yesterday",
    "",
    "2026-13-01T00:00:00Z",
    "2026-02-30T12:00:00Z",
    "2026-11-01T10:00:00",
    "2026-11-01T25:61:00Z",
    "01/11/2026 10:00",
    "1793491200000",
];

/// 128 bits laid out as a version-4 UUID that still encodes all 64 bits of `v` (48 + 12 +
/// 4), so distinct `v` give distinct ids; `noise` fills the rest.
fn unique_uuid(v: u64, noise: u64) -> (u64, u64) {
    let hi = ((v >> 16) << 16) | 0x4000 | ((v >> 4) & 0xFFF);
    let lo = (0b10 << 62) | ((v & 0xF) << 58) | (noise & ((1 << 58) - 1));
    (hi, lo)
}

fn write_ip(out: &mut Vec<u8>, r: &mut Rng, p: &Person, bot: bool, t: i64) {
    if bot {
        if r.chance(0.1) {
            lit(out, b"2001:4860:4801:");
            write_v6_tail(out, r, 5);
        } else {
            write_v4(out, r.pick(BOT_V4), r.next_u64());
        }
        return;
    }
    // Same address for a session, a new one after (dynamic ISP addressing).
    let host = mix64(p.key ^ 0x1b ^ (t / SESSION_MS) as u64);
    match p.locale.v6 {
        Some(prefix) if r.chance(0.2) => {
            lit(out, prefix.as_bytes());
            write_v6_tail(out, r, 8 - prefix.matches(':').count());
        }
        _ => write_v4(out, p.v4, host),
    }
}

/// A host inside `base/len`, never the .0 or .255 of a /24.
fn write_v4(out: &mut Vec<u8>, (base, len): (u32, u8), host: u64) {
    let size = 1u64 << (32 - u32::from(len));
    let mut ip = base + (host % size) as u32;
    ip = (ip & !0xFF) | (1 + (ip & 0xFF) % 254);
    for (k, octet) in ip.to_be_bytes().iter().enumerate() {
        if k > 0 {
            out.push(b'.');
        }
        push_u64(out, u64::from(*octet));
    }
}

fn write_v6_tail(out: &mut Vec<u8>, r: &mut Rng, groups: usize) {
    for k in 0..groups {
        if k > 0 {
            out.push(b':');
        }
        let mut s = String::with_capacity(4);
        let g = r.below(0x1_0000);
        // Groups are written without leading zeros, as real software prints them.
        let digits = (1..=4).find(|&n| g < 1 << (4 * n)).unwrap_or(4);
        push_hex(&mut s, g, digits);
        lit(out, s.as_bytes());
    }
}

/// Everything after the host, then the closing quote. Realistic junk included: tracking
/// parameters the worker keeps (utm_*) and ones it must drop (click ids, `q`, `email`,
/// `token`), and occasional fragments.
fn write_url_rest(out: &mut Vec<u8>, r: &mut Rng, etype: EventType, d: &Detail, p: &Person) {
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
            lit(out, d.download.0.as_bytes());
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
            push_pct(out, r.pick(SEARCH_QUERIES));
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

fn write_order_id(out: &mut Vec<u8>, order: u64) {
    lit(out, b"ORD-2026-");
    let mut s = String::with_capacity(8);
    push_base36(&mut s, order, 8);
    lit(out, s.to_ascii_uppercase().as_bytes());
}

/// A phrase from `base`, sometimes with the person's own e-mail, phone or a card number
/// mixed in: exactly what the worker's free-text scrubber exists for.
fn free_text(r: &mut Rng, p: &Person, base: &[&str], email: f64, phone: f64, card: f64) -> String {
    let mut s = String::with_capacity(96);
    s.push_str(r.pick(base));
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

fn write_properties(
    out: &mut Vec<u8>,
    r: &mut Rng,
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
            let (id, tag, text, selector, target) = r.pick(CLICK_TARGETS);
            lit(out, b"{\"element\":{\"id\":");
            push_str(out, id);
            lit(out, b",\"tag\":");
            push_str(out, tag);
            lit(out, b",\"text\":");
            push_str(out, text);
            lit(out, b",\"selector\":");
            push_str(out, selector);
            lit(out, b",\"position\":{\"x\":");
            push_u64(out, r.below(1400));
            lit(out, b",\"y\":");
            push_u64(out, r.below(2600));
            lit(out, b"}},\"target_url\":");
            if target.is_empty() {
                lit(out, b"null");
            } else {
                lit(out, b"\"https://shop.example.com");
                lit(out, target.as_bytes());
                out.push(b'"');
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
                push_str(out, r.pick_ref(PRODUCTS).sku);
            }
            lit(out, b"]},\"filters\":{\"category\":");
            push_str(out, PRODUCTS[d.product].category);
            lit(out, b",\"price\":{\"min\":");
            push_u64(out, r.below(50));
            lit(out, b",\"max\":");
            push_u64(out, r.between(60, 1000));
            lit(out, b",\"currency\":");
            push_str(out, loc.currency);
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
            let (name, mime) = d.download;
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
        EventType::Purchase => write_purchase(out, r, d, p, identified),
        EventType::SurveyResponse => {
            lit(out, b"{\"survey_id\":\"nps-2026-q4\",\"question_id\":");
            push_str(out, r.pick(&["q1_recommend", "q2_why", "q3_delivery"]));
            lit(out, b",\"rating\":");
            push_u64(out, r.below(11));
            lit(out, b",\"answer\":");
            push_str(out, &free_text(r, p, SURVEY_ANSWERS, 0.1, 0.06, 0.03));
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

fn write_purchase(out: &mut Vec<u8>, r: &mut Rng, d: &Detail, p: &Person, identified: bool) {
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
        let prod = &PRODUCTS[(d.product + k) % PRODUCTS.len()];
        let qty = if r.chance(0.85) { 1 } else { r.between(2, 4) };
        let unit = price(prod.cents);
        total += unit * qty;
        if k > 0 {
            items.push(b',');
        }
        lit(&mut items, b"{\"sku\":");
        push_str(&mut items, prod.sku);
        lit(&mut items, b",\"name\":");
        push_str(&mut items, prod.name);
        lit(&mut items, b",\"qty\":");
        push_u64(&mut items, qty);
        lit(&mut items, b",\"unit_price\":");
        push_fixed(&mut items, unit as i64, loc.currency_decimals);
        lit(&mut items, b",\"category\":");
        push_str(&mut items, prod.category);
        items.push(b'}');
    }
    let shipping = if total > price(5000) { 0 } else { price(499) };
    lit(out, b"\",\"amount\":");
    push_fixed(out, (total + shipping) as i64, loc.currency_decimals);
    lit(out, b",\"currency\":");
    push_str(out, loc.currency);
    lit(out, b",\"items\":[");
    out.extend_from_slice(&items);
    lit(out, b"],\"shipping\":{\"method\":");
    push_str(out, r.pick(&["standard", "express", "pickup"]));
    lit(out, b",\"cost\":");
    push_fixed(out, shipping as i64, loc.currency_decimals);
    lit(out, b",\"address\":{\"country\":");
    push_str(out, loc.country);
    lit(out, b",\"city\":");
    push_str(out, p.city.name);
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

// ---------------------------------------------------------------------------------------
// Encoding helpers: everything is written straight into the output buffer.
// ---------------------------------------------------------------------------------------

fn lit(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
}

fn push_bool(out: &mut Vec<u8>, b: bool) {
    lit(out, if b { b"true" } else { b"false" });
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// `n / 10^decimals` as a JSON number, from integers so the text is exact and portable.
fn push_fixed(out: &mut Vec<u8>, n: i64, decimals: u32) {
    if n < 0 {
        out.push(b'-');
    }
    let a = n.unsigned_abs();
    let scale = 10u64.pow(decimals);
    push_u64(out, a / scale);
    if decimals > 0 {
        out.push(b'.');
        let mut s = String::with_capacity(decimals as usize);
        push_dec_padded(&mut s, a % scale, decimals as usize);
        lit(out, s.as_bytes());
    }
}

/// A JSON string literal. Escapes what JSON requires (quote, backslash, controls) and
/// passes all other UTF-8 through unchanged.
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => lit(out, b"\\\""),
                b'\\' => lit(out, b"\\\\"),
                b'\n' => lit(out, b"\\n"),
                b'\r' => lit(out, b"\\r"),
                b'\t' => lit(out, b"\\t"),
                0..=0x1F => {
                    lit(out, b"\\u00");
                    out.push(HEX_LOWER[usize::from(b >> 4)]);
                    out.push(HEX_LOWER[usize::from(b & 0xF)]);
                }
                _ => out.push(b),
            }
        }
    }
    out.push(b'"');
}

/// application/x-www-form-urlencoded, which also never needs JSON escaping.
fn push_pct(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX_UPPER[usize::from(b >> 4)]);
                out.push(HEX_UPPER[usize::from(b & 0xF)]);
            }
        }
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The low `width` digits of `n` in `digits`' base, most significant first, zero-padded.
fn push_radix(s: &mut String, mut n: u64, width: usize, digits: &[u8]) {
    let base = digits.len() as u64;
    let mut buf = [0u8; 64];
    let width = width.min(buf.len());
    for slot in buf[..width].iter_mut().rev() {
        *slot = digits[(n % base) as usize];
        n /= base;
    }
    s.extend(buf[..width].iter().map(|&b| b as char));
}

fn push_base36(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, BASE36);
}

fn push_base62(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, BASE62);
}

fn push_hex(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, HEX_LOWER);
}

fn push_dec_padded(s: &mut String, n: u64, width: usize) {
    push_radix(s, n, width, b"0123456789");
}

fn push_dec(s: &mut String, n: u64) {
    let width = (1..20).find(|&w| n < 10u64.pow(w as u32)).unwrap_or(20);
    push_dec_padded(s, n, width);
}

/// 8-4-4-4-12 hex. Sets the version-4 and RFC 4122 variant bits.
fn push_uuid(s: &mut String, hi: u64, lo: u64, upper: bool) {
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    for k in 0..32 {
        if matches!(k, 8 | 12 | 16 | 20) {
            s.push('-');
        }
        let word = if k < 16 { hi } else { lo };
        s.push(digits[((word >> (60 - 4 * (k % 16))) & 0xF) as usize] as char);
    }
}

/// `#` → digit, `@` → capital letter, anything else literally.
fn fill_pattern(r: &mut Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => (b'0' + r.below(10) as u8) as char,
            '@' => (b'A' + r.below(26) as u8) as char,
            other => other,
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3339 with milliseconds: `Z` when `offset_min` is None, else that numeric offset
/// (same instant, local wall-clock digits).
fn push_time(out: &mut Vec<u8>, ms: i64, offset_min: Option<i32>) {
    let off = offset_min.unwrap_or(0);
    let local = ms + i64::from(off) * MINUTE_MS;
    let (y, mo, d) = civil_from_days(local.div_euclid(DAY_MS));
    let rem = local.rem_euclid(DAY_MS) as u64;
    let mut s = String::with_capacity(29);
    push_dec_padded(&mut s, y.clamp(0, 9999) as u64, 4);
    s.push('-');
    push_dec_padded(&mut s, mo, 2);
    s.push('-');
    push_dec_padded(&mut s, d, 2);
    s.push('T');
    push_dec_padded(&mut s, rem / 3_600_000, 2);
    s.push(':');
    push_dec_padded(&mut s, rem / 60_000 % 60, 2);
    s.push(':');
    push_dec_padded(&mut s, rem / 1000 % 60, 2);
    s.push('.');
    push_dec_padded(&mut s, rem % 1000, 3);
    match offset_min {
        None => s.push('Z'),
        Some(o) => {
            s.push(if o < 0 { '-' } else { '+' });
            let a = u64::from(o.unsigned_abs());
            push_dec_padded(&mut s, a / 60, 2);
            s.push(':');
            push_dec_padded(&mut s, a % 60, 2);
        }
    }
    out.push(b'"');
    lit(out, s.as_bytes());
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------------------

/// (display, e-mail slug)
type Name = (&'static str, &'static str);

struct City {
    name: &'static str,
    region: &'static str,
    /// Micro-degrees, so coordinates print exactly.
    lat: i32,
    lon: i32,
    /// Standard-time UTC offset in November, minutes.
    offset_min: i32,
}

const fn city(
    name: &'static str,
    region: &'static str,
    lat: i32,
    lon: i32,
    offset_min: i32,
) -> City {
    City {
        name,
        region,
        lat,
        lon,
        offset_min,
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> (u32, u8) {
    (u32::from_be_bytes([a, b, c, d]), len)
}

struct Locale {
    country: &'static str,
    languages: &'static [&'static str],
    currency: &'static str,
    currency_decimals: u32,
    /// Minor currency units per 1000 US cents.
    fx_milli: u64,
    cities: &'static [City],
    /// Real consumer ISP blocks of the country (approximate geolocation: good enough for
    /// load, not a substitute for a GeoIP fixture).
    v4: &'static [(u32, u8)],
    /// A /32-ish ISP prefix, written with its trailing colon.
    v6: Option<&'static str>,
    first: &'static [Name],
    last: &'static [Name],
    streets: &'static [&'static str],
    number_first: bool,
    postal: &'static str,
    /// Where the country has a range reserved for fiction (US/CA 555-01xx, UK 07700 900xxx,
    /// FR 06 39 98, AU 0491 570), it is used.
    phone: &'static str,
    /// Shaped like the national id; US ones use the never-issued 9xx area.
    gov_id: &'static str,
}

const LOCALE_WEIGHTS: [u32; 13] = [22, 8, 12, 8, 5, 5, 3, 8, 7, 10, 4, 4, 4];

static LOCALES: [Locale; 13] = [
    Locale {
        country: "US",
        languages: &["en-US", "en-US", "en-US,en;q=0.9", "es-US"],
        currency: "USD",
        currency_decimals: 2,
        fx_milli: 1000,
        cities: &[
            city("New York", "New York", 40_712_776, -74_005_974, -300),
            city("Los Angeles", "California", 34_052_235, -118_243_683, -480),
            city("Chicago", "Illinois", 41_878_113, -87_629_799, -360),
            city("Seattle", "Washington", 47_606_209, -122_332_071, -480),
            city("Austin", "Texas", 30_267_153, -97_743_061, -360),
        ],
        v4: &[
            v4(73, 0, 0, 0, 8),
            v4(173, 48, 0, 0, 12),
            v4(174, 192, 0, 0, 10),
        ],
        v6: Some("2601:184:"),
        first: &[
            ("James", "james"),
            ("Mary", "mary"),
            ("Aaliyah", "aaliyah"),
            ("Carlos", "carlos"),
            ("Jennifer", "jennifer"),
        ],
        last: &[
            ("Smith", "smith"),
            ("Johnson", "johnson"),
            ("O'Brien", "obrien"),
            ("García", "garcia"),
            ("Williams", "williams"),
        ],
        streets: &["Maple Street", "Oak Avenue", "Sunset Boulevard"],
        number_first: true,
        postal: "#####",
        phone: "+1 ###-555-01##",
        gov_id: "9##-##-####",
    },
    Locale {
        country: "GB",
        languages: &["en-GB", "en-GB,en;q=0.9"],
        currency: "GBP",
        currency_decimals: 2,
        fx_milli: 790,
        cities: &[
            city("London", "England", 51_507_351, -127_758, 0),
            city("Manchester", "England", 53_480_759, -2_242_631, 0),
            city("Edinburgh", "Scotland", 55_953_252, -3_188_267, 0),
        ],
        v4: &[v4(86, 128, 0, 0, 10), v4(86, 0, 0, 0, 11)],
        v6: Some("2a00:23c7:"),
        first: &[
            ("Oliver", "oliver"),
            ("Amelia", "amelia"),
            ("Harry", "harry"),
            ("Isla", "isla"),
        ],
        last: &[
            ("Taylor", "taylor"),
            ("Brown", "brown"),
            ("Evans", "evans"),
            ("Wilson", "wilson"),
        ],
        streets: &["High Street", "Station Road", "Church Lane"],
        number_first: true,
        postal: "@# #@@",
        phone: "+44 7700 900###",
        gov_id: "QQ ## ## ## C",
    },
    Locale {
        country: "DE",
        languages: &["de-DE", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"],
        currency: "EUR",
        currency_decimals: 2,
        fx_milli: 920,
        cities: &[
            city("Berlin", "Berlin", 52_520_008, 13_404_954, 60),
            city("München", "Bayern", 48_135_125, 11_581_981, 60),
            city("Hamburg", "Hamburg", 53_551_086, 9_993_682, 60),
            city("Köln", "Nordrhein-Westfalen", 50_937_531, 6_960_279, 60),
        ],
        v4: &[v4(79, 192, 0, 0, 10), v4(217, 224, 0, 0, 11)],
        v6: Some("2003:e8:"),
        first: &[
            ("Lukas", "lukas"),
            ("Sophie", "sophie"),
            ("Jürgen", "juergen"),
            ("Lea", "lea"),
        ],
        last: &[
            ("Müller", "mueller"),
            ("Schmidt", "schmidt"),
            ("Weiß", "weiss"),
            ("Schneider", "schneider"),
        ],
        streets: &["Hauptstraße", "Schillerstraße", "Gartenweg"],
        number_first: false,
        postal: "#####",
        phone: "+49 151 ########",
        gov_id: "L#@#####",
    },
    Locale {
        country: "FR",
        languages: &["fr-FR", "fr", "fr-FR,fr;q=0.9,en;q=0.8"],
        currency: "EUR",
        currency_decimals: 2,
        fx_milli: 920,
        cities: &[
            city("Paris", "Île-de-France", 48_856_614, 2_352_222, 60),
            city("Lyon", "Auvergne-Rhône-Alpes", 45_764_043, 4_835_659, 60),
            city(
                "Marseille",
                "Provence-Alpes-Côte d'Azur",
                43_296_482,
                5_369_780,
                60,
            ),
        ],
        v4: &[v4(90, 0, 0, 0, 9), v4(88, 160, 0, 0, 11)],
        v6: Some("2a01:e0a:"),
        first: &[
            ("Léa", "lea"),
            ("Hugo", "hugo"),
            ("Chloé", "chloe"),
            ("Théo", "theo"),
        ],
        last: &[
            ("Martin", "martin"),
            ("Bernard", "bernard"),
            ("Dubois", "dubois"),
            ("Lefèvre", "lefevre"),
        ],
        streets: &[
            "rue de la Paix",
            "avenue Victor Hugo",
            "boulevard Saint-Michel",
        ],
        number_first: true,
        postal: "#####",
        phone: "+33 6 39 98 ## ##",
        gov_id: "# ## ## ## ### ### ##",
    },
    Locale {
        country: "ES",
        languages: &["es-ES", "es", "ca-ES"],
        currency: "EUR",
        currency_decimals: 2,
        fx_milli: 920,
        cities: &[
            city("Madrid", "Comunidad de Madrid", 40_416_775, -3_703_790, 60),
            city("Barcelona", "Cataluña", 41_387_397, 2_168_568, 60),
        ],
        v4: &[v4(83, 32, 0, 0, 11), v4(88, 0, 0, 0, 11)],
        v6: None,
        first: &[
            ("Lucía", "lucia"),
            ("Martina", "martina"),
            ("Álvaro", "alvaro"),
            ("Pablo", "pablo"),
        ],
        last: &[
            ("García", "garcia"),
            ("Fernández", "fernandez"),
            ("López", "lopez"),
            ("Martínez", "martinez"),
        ],
        streets: &["Calle Mayor", "Avenida de la Constitución"],
        number_first: false,
        postal: "#####",
        phone: "+34 6## ### ###",
        gov_id: "########@",
    },
    Locale {
        country: "IT",
        languages: &["it-IT", "it"],
        currency: "EUR",
        currency_decimals: 2,
        fx_milli: 920,
        cities: &[
            city("Roma", "Lazio", 41_902_784, 12_496_366, 60),
            city("Milano", "Lombardia", 45_464_204, 9_189_982, 60),
        ],
        v4: &[v4(151, 0, 0, 0, 12), v4(79, 0, 0, 0, 12)],
        v6: None,
        first: &[
            ("Giulia", "giulia"),
            ("Francesco", "francesco"),
            ("Sofia", "sofia"),
            ("Niccolò", "niccolo"),
        ],
        last: &[
            ("Rossi", "rossi"),
            ("Russo", "russo"),
            ("Ferrari", "ferrari"),
            ("D'Angelo", "dangelo"),
        ],
        streets: &["Via Roma", "Corso Garibaldi"],
        number_first: false,
        postal: "#####",
        phone: "+39 3## ### ####",
        gov_id: "@@@@@@##@##@###@",
    },
    Locale {
        country: "PL",
        languages: &["pl-PL", "pl"],
        currency: "PLN",
        currency_decimals: 2,
        fx_milli: 4000,
        cities: &[
            city("Warszawa", "Mazowieckie", 52_229_676, 21_012_229, 60),
            city("Kraków", "Małopolskie", 50_064_650, 19_944_980, 60),
        ],
        v4: &[v4(83, 0, 0, 0, 11)],
        v6: None,
        first: &[
            ("Zofia", "zofia"),
            ("Jakub", "jakub"),
            ("Łucja", "lucja"),
            ("Szymon", "szymon"),
        ],
        last: &[
            ("Nowak", "nowak"),
            ("Kowalski", "kowalski"),
            ("Wiśniewska", "wisniewska"),
            ("Wójcik", "wojcik"),
        ],
        streets: &["ul. Długa", "al. Jana Pawła II"],
        number_first: false,
        postal: "##-###",
        phone: "+48 ### ### ###",
        gov_id: "###########",
    },
    Locale {
        country: "BR",
        languages: &["pt-BR", "pt-BR,pt;q=0.9,en;q=0.8"],
        currency: "BRL",
        currency_decimals: 2,
        fx_milli: 5600,
        cities: &[
            city("São Paulo", "São Paulo", -23_550_520, -46_633_308, -180),
            city(
                "Rio de Janeiro",
                "Rio de Janeiro",
                -22_906_847,
                -43_172_896,
                -180,
            ),
        ],
        v4: &[v4(177, 0, 0, 0, 10), v4(189, 0, 0, 0, 11)],
        v6: None,
        first: &[
            ("João", "joao"),
            ("Maria", "maria"),
            ("Ana", "ana"),
            ("Luíz", "luiz"),
        ],
        last: &[
            ("Silva", "silva"),
            ("Santos", "santos"),
            ("Oliveira", "oliveira"),
            ("Conceição", "conceicao"),
        ],
        streets: &["Rua das Flores", "Avenida Paulista"],
        number_first: false,
        postal: "#####-###",
        phone: "+55 11 9####-####",
        gov_id: "###.###.###-##",
    },
    Locale {
        country: "JP",
        languages: &["ja", "ja-JP"],
        currency: "JPY",
        currency_decimals: 0,
        fx_milli: 1500,
        cities: &[
            city("東京", "東京都", 35_676_192, 139_650_311, 540),
            city("大阪", "大阪府", 34_693_738, 135_502_165, 540),
        ],
        v4: &[v4(126, 0, 0, 0, 8)],
        v6: Some("240b:10:"),
        first: &[
            ("翔太", "shota"),
            ("陽菜", "hina"),
            ("Haruto", "haruto"),
            ("Yui", "yui"),
        ],
        last: &[
            ("佐藤", "sato"),
            ("鈴木", "suzuki"),
            ("Takahashi", "takahashi"),
            ("田中", "tanaka"),
        ],
        streets: &["千代田1丁目", "渋谷2丁目"],
        number_first: false,
        postal: "###-####",
        phone: "+81 90-####-####",
        gov_id: "#### #### ####",
    },
    Locale {
        country: "IN",
        languages: &["en-IN", "hi-IN", "en-IN,hi;q=0.9"],
        currency: "INR",
        currency_decimals: 2,
        fx_milli: 84_000,
        cities: &[
            city("Mumbai", "Maharashtra", 19_075_984, 72_877_656, 330),
            city("Bengaluru", "Karnataka", 12_971_599, 77_594_563, 330),
            city("New Delhi", "Delhi", 28_613_939, 77_209_021, 330),
        ],
        v4: &[v4(49, 32, 0, 0, 11), v4(117, 192, 0, 0, 10)],
        v6: Some("2409:4040:"),
        first: &[
            ("Aarav", "aarav"),
            ("Priya", "priya"),
            ("Vivaan", "vivaan"),
            ("Ananya", "ananya"),
        ],
        last: &[
            ("Sharma", "sharma"),
            ("Patel", "patel"),
            ("Reddy", "reddy"),
            ("Iyer", "iyer"),
        ],
        streets: &["MG Road", "Linking Road"],
        number_first: true,
        postal: "######",
        phone: "+91 9#### #####",
        gov_id: "#### #### ####",
    },
    Locale {
        country: "AU",
        languages: &["en-AU"],
        currency: "AUD",
        currency_decimals: 2,
        fx_milli: 1530,
        cities: &[
            city("Sydney", "New South Wales", -33_868_820, 151_209_296, 660),
            city("Melbourne", "Victoria", -37_813_628, 144_963_058, 660),
        ],
        v4: &[v4(1, 128, 0, 0, 11), v4(101, 160, 0, 0, 11)],
        v6: None,
        first: &[
            ("Jack", "jack"),
            ("Charlotte", "charlotte"),
            ("Noah", "noah"),
            ("Mia", "mia"),
        ],
        last: &[
            ("Smith", "smith"),
            ("Nguyễn", "nguyen"),
            ("Jones", "jones"),
            ("Kelly", "kelly"),
        ],
        streets: &["George Street", "Collins Street"],
        number_first: true,
        postal: "####",
        phone: "+61 491 570 ###",
        gov_id: "### ### ###",
    },
    Locale {
        country: "CA",
        languages: &["en-CA", "fr-CA"],
        currency: "CAD",
        currency_decimals: 2,
        fx_milli: 1390,
        cities: &[
            city("Toronto", "Ontario", 43_653_226, -79_383_184, -300),
            city("Montréal", "Québec", 45_501_689, -73_567_256, -300),
            city(
                "Vancouver",
                "British Columbia",
                49_282_729,
                -123_120_738,
                -480,
            ),
        ],
        v4: &[v4(99, 224, 0, 0, 11)],
        v6: None,
        first: &[
            ("Liam", "liam"),
            ("Olivia", "olivia"),
            ("Émile", "emile"),
            ("Chloé", "chloe"),
        ],
        last: &[
            ("Tremblay", "tremblay"),
            ("Roy", "roy"),
            ("Campbell", "campbell"),
            ("Singh", "singh"),
        ],
        streets: &["Yonge Street", "rue Sainte-Catherine"],
        number_first: true,
        postal: "@#@ #@#",
        phone: "+1 ###-555-01##",
        gov_id: "###-###-###",
    },
    Locale {
        country: "NG",
        languages: &["en-NG", "en", "yo-NG"],
        currency: "NGN",
        currency_decimals: 2,
        fx_milli: 1_650_000,
        cities: &[
            city("Lagos", "Lagos", 6_524_379, 3_379_206, 60),
            city("Abuja", "FCT", 9_076_479, 7_398_574, 60),
        ],
        v4: &[v4(105, 112, 0, 0, 12)],
        v6: None,
        first: &[
            ("Chinedu", "chinedu"),
            ("Ngozi", "ngozi"),
            ("Oluwaseun", "oluwaseun"),
            ("Aisha", "aisha"),
        ],
        last: &[
            ("Okafor", "okafor"),
            ("Adeyemi", "adeyemi"),
            ("Bello", "bello"),
            ("Eze", "eze"),
        ],
        streets: &["Allen Avenue", "Adeola Odeku Street"],
        number_first: true,
        postal: "######",
        phone: "+234 803 ### ####",
        gov_id: "###########",
    },
];

/// Crawler ranges (Googlebot, Bingbot).
const BOT_V4: &[(u32, u8)] = &[
    v4(66, 249, 64, 0, 19),
    v4(157, 55, 39, 0, 24),
    v4(40, 77, 167, 0, 24),
];

/// RFC 2606 reserved domains only.
const MAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Platform {
    Web,
    Ios,
    Android,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Device {
    Desktop,
    Mobile,
    Tablet,
    Bot,
}

impl Device {
    fn name(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
            Device::Bot => "bot",
        }
    }
}

struct UserAgent {
    ua: &'static str,
    platform: Platform,
    device: Device,
}

const fn ua(ua: &'static str, platform: Platform, device: Device) -> UserAgent {
    UserAgent {
        ua,
        platform,
        device,
    }
}

const UA_WEIGHTS: [u32; 16] = [20, 6, 4, 7, 6, 2, 1, 14, 3, 12, 4, 1, 3, 2, 8, 7];

static USER_AGENTS: [UserAgent; 16] = [
    ua(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        Platform::Web,
        Device::Desktop,
    ),
    ua(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
        Platform::Web,
        Device::Desktop,
    ),
    ua(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
        Platform::Web,
        Device::Desktop,
    ),
    ua(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        Platform::Web,
        Device::Desktop,
    ),
    ua(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        Platform::Web,
        Device::Desktop,
    ),
    ua(
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        Platform::Web,
        Device::Desktop,
    ),
    ua(
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        Platform::Web,
        Device::Desktop,
    ),
    ua(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        Platform::Web,
        Device::Mobile,
    ),
    ua(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1",
        Platform::Web,
        Device::Mobile,
    ),
    ua(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
        Platform::Web,
        Device::Mobile,
    ),
    ua(
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        Platform::Web,
        Device::Mobile,
    ),
    ua(
        "Mozilla/5.0 (Android 14; Mobile; rv:132.0) Gecko/132.0 Firefox/132.0",
        Platform::Web,
        Device::Mobile,
    ),
    ua(
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
        Platform::Web,
        Device::Tablet,
    ),
    ua(
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        Platform::Web,
        Device::Tablet,
    ),
    ua(
        "ShopExample/5.14.0 (iPhone15,3; iOS 18.1; Scale/3.00) CFNetwork/1568.200.51 Darwin/24.1.0",
        Platform::Ios,
        Device::Mobile,
    ),
    ua(
        "ShopExample/5.13.2 (Linux; U; Android 14; Pixel 8 Build/AP2A.240905.003) okhttp/4.12.0",
        Platform::Android,
        Device::Mobile,
    ),
];

static BOT_AGENTS: &[UserAgent] = &[
    ua(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        Platform::Web,
        Device::Bot,
    ),
    ua(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        Platform::Web,
        Device::Bot,
    ),
];

const WEB_VERSIONS: [&str; 3] = ["2026.10.2", "2026.10.3", "2026.11.0"];
const IOS_VERSIONS: [&str; 3] = ["5.14.0", "5.13.2", "5.12.1"];
const ANDROID_VERSIONS: [&str; 3] = ["5.14.0", "5.13.2", "5.11.4"];

const CATEGORIES: &[&str] = &[
    "electronics",
    "home-garden",
    "fashion",
    "sports",
    "toys",
    "books",
    "beauty",
    "grocery",
];
const HELP_TOPICS: &[&str] = &[
    "returns",
    "shipping",
    "payment-methods",
    "privacy",
    "contact",
];

struct Product {
    sku: &'static str,
    name: &'static str,
    slug: &'static str,
    category: &'static str,
    cents: u64,
}

const fn product(
    sku: &'static str,
    name: &'static str,
    slug: &'static str,
    category: &'static str,
    cents: u64,
) -> Product {
    Product {
        sku,
        name,
        slug,
        category,
        cents,
    }
}

static PRODUCTS: &[Product] = &[
    product(
        "SKU-10423",
        "Wireless Headphones X200 – Black",
        "wireless-headphones-x200-10423",
        "electronics",
        12_999,
    ),
    product(
        "SKU-20871",
        "Trail Running Shoe \"Ridge\" GTX",
        "trail-running-shoe-ridge-gtx-20871",
        "sports",
        8_999,
    ),
    product(
        "SKU-31007",
        "Espresso Machine Pro 15 bar",
        "espresso-machine-pro-31007",
        "home-garden",
        24_999,
    ),
    product(
        "SKU-40518",
        "Yoga Mat 6 mm, non-slip",
        "yoga-mat-6mm-40518",
        "sports",
        2_999,
    ),
    product(
        "SKU-51234",
        "LED Desk Lamp (dimmable)",
        "led-desk-lamp-51234",
        "home-garden",
        3_999,
    ),
    product(
        "SKU-60022",
        "Kinderfahrrad 20 Zoll",
        "kinderfahrrad-20-zoll-60022",
        "toys",
        19_999,
    ),
    product(
        "SKU-70310",
        "Smartwatch S3 – 41 mm",
        "smartwatch-s3-41mm-70310",
        "electronics",
        19_900,
    ),
    product(
        "SKU-80457",
        "Cast-Iron Skillet 28 cm",
        "cast-iron-skillet-28cm-80457",
        "home-garden",
        4_599,
    ),
    product(
        "SKU-90876",
        "Noise-Cancelling Earbuds",
        "noise-cancelling-earbuds-90876",
        "electronics",
        14_999,
    ),
    product(
        "SKU-11235",
        "27\" 4K Monitor",
        "27-inch-4k-monitor-11235",
        "electronics",
        32_999,
    ),
    product(
        "SKU-12580",
        "Crème hydratante 50 ml",
        "creme-hydratante-50ml-12580",
        "beauty",
        1_899,
    ),
    product(
        "SKU-13090",
        "Café em grãos 1 kg",
        "cafe-em-graos-1kg-13090",
        "grocery",
        2_199,
    ),
    product(
        "SKU-14777",
        "Der Schwarm (Taschenbuch)",
        "der-schwarm-taschenbuch-14777",
        "books",
        1_299,
    ),
    product(
        "SKU-15002",
        "抹茶 Matcha Tea 100 g",
        "matcha-tea-100g-15002",
        "grocery",
        1_599,
    ),
    product(
        "SKU-16340",
        "Rain Jacket, packable",
        "rain-jacket-packable-16340",
        "fashion",
        7_999,
    ),
];

/// (id, tag, text, CSS selector, target path or "" for none)
const CLICK_TARGETS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "add-to-cart",
        "button",
        "Add to cart",
        "main > section.pdp-buy-box > button#add-to-cart",
        "/cart",
    ),
    (
        "nav-deals",
        "a",
        "Deals",
        "header nav > a[data-nav=\"deals\"]",
        "/deals",
    ),
    (
        "search-submit",
        "button",
        "Search",
        "form#search > button[type=submit]",
        "/search",
    ),
    (
        "gallery-next",
        "button",
        "›",
        "div.gallery > button.next",
        "",
    ),
    (
        "newsletter-signup",
        "button",
        "Sign up – 10 % off",
        "footer form.newsletter > button",
        "/newsletter/confirm",
    ),
    (
        "cookie-accept",
        "button",
        "Accept all",
        "div#consent-banner > button.accept",
        "",
    ),
    (
        "product-card",
        "a",
        "Espresso Machine Pro 15 bar",
        "ul.product-grid > li:nth-child(3) > a",
        "/p/espresso-machine-pro-31007",
    ),
    (
        "checkout",
        "button",
        "Proceed to checkout",
        "aside.cart-summary > button.primary",
        "/checkout?step=address",
    ),
];

/// (file name, MIME type)
const DOWNLOADS: &[(&str, &str)] = &[
    ("invoice-2026-10.pdf", "application/pdf"),
    ("manual-espresso-pro-31007.pdf", "application/pdf"),
    (
        "shop-setup-5.14.0.exe",
        "application/vnd.microsoft.portable-executable",
    ),
    ("catalog-winter-2026.pdf", "application/pdf"),
    (
        "size-chart.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
];

const SEARCH_QUERIES: &[&str] = &[
    "wireless headphones",
    "running shoes size 42",
    "gift for mom under 50",
    "return policy",
    "where is my order 4417",
    "espresso machine",
    "Kinderfahrrad 20 zoll",
    "chaussures de randonnée",
    "テレビ 55インチ",
    "\"noise cancelling\" earbuds",
    "usb-c cable 2m",
    "café em grãos",
    "yoga mat",
    "27\" monitor 4k",
    "black friday deals",
    "cancel subscription",
];

const SURVEY_ANSWERS: &[&str] = &[
    "Great service, fast delivery!",
    "Checkout was \"confusing\" on mobile.\nThe coupon field is hidden.",
    "Der Versand hat zu lange gedauert.",
    "Très bon produit, je recommande.",
    "Product arrived damaged; the box was wet",
    "Would buy again 👍",
    "Search results are not relevant\tat all",
    "Preços bons, entrega rápida.",
    "Please stop sending me emails",
    "Customer support solved my issue in 5 minutes",
];

const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.google.de/",
    "https://www.bing.com/search?q=wireless+headphones&form=QBLH",
    "https://duckduckgo.com/",
    "https://t.co/Xk2LmQ9pZr",
    "https://www.facebook.com/",
    "https://l.instagram.com/?u=https%3A%2F%2Fshop.example.com%2Fdeals&e=AT0x",
    "https://news.ycombinator.com/item?id=41234567",
    "https://mail.google.com/",
    "android-app://com.google.android.gm/",
    "https://shop.example.com/c/electronics?page=2",
    "https://www.reddit.com/r/BuyItForLife/comments/1abc2de/",
];

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};
    use std::collections::{HashMap, HashSet};

    fn small() -> GenConfig {
        GenConfig {
            users: 500,
            events: 5_000,
            ..GenConfig::default()
        }
    }

    type Rec = (GenTopic, Option<String>, Option<Vec<u8>>);

    fn all_bytes(cfg: &GenConfig) -> Vec<Rec> {
        state_records(cfg)
            .chain(events(cfg))
            .map(|r| (r.topic, r.key, r.value))
            .collect()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = all_bytes(&small());
        assert_eq!(a, all_bytes(&small()));
        let other = GenConfig {
            seed: 43,
            ..small()
        };
        let b = all_bytes(&other);
        assert_ne!(a, b);
        // Not just a shuffle: the raw events themselves differ (bar the few constant
        // not-an-object inputs such as `null`).
        let raw = |v: &[Rec]| {
            v.iter()
                .filter(|r| r.0 == GenTopic::Raw)
                .filter_map(|r| r.2.clone().filter(|b| b.len() > 20))
                .collect::<HashSet<_>>()
        };
        assert!(raw(&a).is_disjoint(&raw(&b)));
    }

    /// Pins the exact output, so a change of bytes for an unchanged config (a new draw, a
    /// reordered field, a platform difference) is noticed. Update the constant only for an
    /// intended change of the generated data.
    #[test]
    fn output_is_pinned() {
        let cfg = GenConfig {
            users: 200,
            events: 2_000,
            malformed: 0.05,
            ..GenConfig::default()
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
        for rec in state_records(&cfg).chain(events(&cfg)) {
            let key = rec.key.unwrap_or_default();
            let value = rec.value.unwrap_or_else(|| b"<tombstone>".to_vec());
            for b in key.bytes().chain([0]).chain(value).chain([0]) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        assert_eq!(h, 0x030c_716a_c636_5ee7, "generated bytes changed: {h:#x}");
    }

    #[test]
    fn ranges_match_the_full_stream() {
        let cfg = small();
        let all: Vec<_> = events(&cfg).collect();
        let parts: Vec<_> = events_range(&cfg, 0..1234)
            .chain(events_range(&cfg, 1234..u64::MAX))
            .collect();
        assert_eq!(all, parts);
        assert_eq!(events_range(&cfg, Range { start: 10, end: 5 }).count(), 0);
    }

    /// What the worker must accept, checked independently of the generator's own model:
    /// `Err(reason)` for every input the contract rejects.
    fn classify(bytes: &[u8]) -> Result<Map<String, Value>, &'static str> {
        let text = std::str::from_utf8(bytes).map_err(|_| "invalid_utf8")?;
        let v: Value = serde_json::from_str(text).map_err(|_| "invalid_json")?;
        let Value::Object(o) = v else {
            return Err("not_object");
        };
        match o.get("event_id") {
            None => return Err("missing_event_id"),
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => return Err("wrong_type"),
        }
        match o.get("event_type") {
            Some(Value::String(s)) => {
                let ok = (1..=64).contains(&s.len())
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                    });
                if !ok {
                    return Err("bad_event_type");
                }
            }
            _ => return Err("wrong_type"),
        }
        match o.get("occurred_at") {
            Some(Value::String(s)) => {
                if !is_rfc3339(s) {
                    return Err("bad_occurred_at");
                }
            }
            _ => return Err("wrong_type"),
        }
        for f in [
            "user_id",
            "anonymous_id",
            "device_id",
            "session_id",
            "ip",
            "user_agent",
            "language",
            "url",
            "referrer",
        ] {
            if o.get(f).is_some_and(|v| !v.is_string()) {
                return Err("wrong_type");
            }
        }
        for f in ["location", "app", "properties"] {
            if o.get(f).is_some_and(|v| !v.is_object()) {
                return Err("wrong_type");
            }
        }
        Ok(o)
    }

    /// Hand-written JSON can repeat a key, which `Value` would silently collapse.
    fn has_duplicate_keys(bytes: &[u8]) -> bool {
        use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
        struct Check;
        impl<'de> Deserialize<'de> for Check {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(CheckVisitor)
            }
        }
        struct CheckVisitor;
        impl<'de> Visitor<'de> for CheckVisitor {
            type Value = Check;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
                let mut seen = HashSet::new();
                while let Some(k) = map.next_key::<String>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate key {k}")));
                    }
                    map.next_value::<Check>()?;
                }
                Ok(Check)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Check, A::Error> {
                while seq.next_element::<Check>()?.is_some() {}
                Ok(Check)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Check, E> {
                Ok(Check)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Check, E> {
                Ok(Check)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Check, E> {
                Ok(Check)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Check, E> {
                Ok(Check)
            }
            fn visit_str<E>(self, _: &str) -> Result<Check, E> {
                Ok(Check)
            }
            fn visit_unit<E>(self) -> Result<Check, E> {
                Ok(Check)
            }
        }
        serde_json::from_slice::<Check>(bytes).is_err()
    }

    fn is_rfc3339(s: &str) -> bool {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = s.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return false;
        }
        let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
        ) else {
            return false;
        };
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let dim = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=12).contains(&mo)
            || d == 0
            || d > dim[mo as usize - 1]
            || h > 23
            || mi > 59
            || sec > 59
        {
            return false;
        }
        let mut rest = &s[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return false;
            }
            rest = &frac[n..];
        }
        rest == "Z"
            || (rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && rest.as_bytes()[3] == b':'
                && num(s.len() - 5..s.len() - 3).is_some_and(|h| h < 24)
                && num(s.len() - 2..s.len()).is_some_and(|m| m < 60))
    }

    #[test]
    fn rfc3339_checker_itself() {
        assert!(has_duplicate_keys(br#"{"a":{"b":1,"b":2}}"#));
        assert!(!has_duplicate_keys(br#"{"a":{"b":1},"b":[{"a":1}]}"#));
        assert!(is_rfc3339("2026-11-01T00:00:00.000Z"));
        assert!(is_rfc3339("2026-11-01T05:30:00.123+05:30"));
        assert!(is_rfc3339("2024-02-29T00:00:00Z"));
        for bad in BAD_TIMES {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn every_event_is_valid_exactly_when_not_planned_malformed() {
        let cfg = GenConfig {
            events: 20_000,
            malformed: 0.1,
            ..small()
        };
        let m = Model::new(&cfg);
        let mut reasons = HashSet::new();
        let mut ids = HashSet::new();
        for (i, rec) in events(&cfg).enumerate() {
            assert_eq!(rec.topic, GenTopic::Raw);
            let value = rec.value.expect("raw events are never tombstones");
            let (plan, _) = plan_event(&m, i as u64);
            match classify(&value) {
                Ok(o) => {
                    assert!(!has_duplicate_keys(&value), "event {i} repeats a key");
                    assert!(
                        !plan.malformed,
                        "event {i} should be malformed: {}",
                        String::from_utf8_lossy(&value)
                    );
                    let id = o["event_id"].as_str().expect("checked").to_string();
                    assert!(ids.insert(id), "duplicate event_id at {i}");
                    for f in ["url", "properties"] {
                        assert!(o.contains_key(f), "event {i} lacks {f}");
                    }
                    if let Some(ip) = o.get("ip").and_then(Value::as_str) {
                        assert!(ip.parse::<std::net::IpAddr>().is_ok(), "bad ip {ip}");
                    }
                    match (&plan.actor, o.get("user_id")) {
                        (Actor::User(u), Some(Value::String(s))) => {
                            assert_eq!(s, &user_id(&m, *u));
                            assert_eq!(rec.key.as_deref(), Some(s.as_str()));
                        }
                        (Actor::Visitor(_), None) => {
                            assert_eq!(
                                rec.key.as_deref(),
                                o.get("anonymous_id")
                                    .and_then(Value::as_str)
                                    .filter(|_| rec.key.is_some())
                            );
                        }
                        other => panic!("event {i}: actor/user_id mismatch {other:?}"),
                    }
                }
                Err(reason) => {
                    assert!(
                        plan.malformed,
                        "event {i} rejected ({reason}): {}",
                        String::from_utf8_lossy(&value)
                    );
                    reasons.insert(reason);
                }
            }
        }
        let want = [
            "invalid_utf8",
            "invalid_json",
            "not_object",
            "missing_event_id",
            "wrong_type",
            "bad_event_type",
            "bad_occurred_at",
        ];
        for w in want {
            assert!(reasons.contains(w), "no malformed input of kind {w}");
        }
    }

    /// Replays the state topics the way the worker must (last consent record per key wins,
    /// a tombstone deletes, erasure wins over consent older than the request) and recounts
    /// the events from their bytes alone.
    #[test]
    fn summary_matches_an_independent_recount() {
        let cfg = GenConfig {
            events: 30_000,
            malformed: 0.03,
            ..small()
        };
        let mut consent: HashMap<String, Value> = HashMap::new();
        let mut erased_at: HashMap<String, String> = HashMap::new();
        for rec in state_records(&cfg) {
            let key = rec.key.expect("state records are keyed");
            match (rec.topic, rec.value) {
                (GenTopic::Consent, Some(v)) => {
                    consent.insert(key, serde_json::from_slice(&v).expect("consent is JSON"));
                }
                (GenTopic::Consent, None) => {
                    consent.remove(&key);
                }
                (GenTopic::Erasure, Some(v)) => {
                    let v: Value = serde_json::from_slice(&v).expect("erasure is JSON");
                    erased_at.insert(key, v["requested_at"].as_str().expect("string").to_string());
                }
                (GenTopic::Profile, Some(_)) => {}
                other => panic!("unexpected state record {other:?}"),
            }
        }
        // All state timestamps are UTC with millis, so they order as strings.
        let personal_ok = |uid: &str| {
            let Some(c) = consent.get(uid) else {
                return false;
            };
            let granted = c["purposes"]["analytics"].as_bool() == Some(true);
            let updated = c["updated_at"].as_str().expect("string");
            granted && erased_at.get(uid).is_none_or(|req| updated > req.as_str())
        };
        let (mut malformed, mut identified, mut personal, mut n) = (0, 0, 0, 0);
        for rec in events(&cfg) {
            n += 1;
            match classify(rec.value.as_deref().expect("value")) {
                Err(_) => malformed += 1,
                Ok(o) => {
                    if let Some(uid) = o.get("user_id").and_then(Value::as_str) {
                        identified += 1;
                        if personal_ok(uid) {
                            personal += 1;
                        }
                    }
                }
            }
        }
        let s = summary(&cfg);
        assert_eq!(
            s,
            GenSummary {
                users: cfg.users,
                events: n,
                malformed,
                identified,
                expected_personal: personal,
            }
        );
        assert_eq!(n, cfg.events);
        let share = malformed as f64 / n as f64;
        assert!((share - 0.03).abs() < 0.005, "malformed share {share}");
        let id_share = identified as f64 / (n - malformed) as f64;
        assert!((id_share - 0.6).abs() < 0.02, "identified share {id_share}");
        assert!(personal > 0 && personal < identified);
    }

    #[test]
    fn state_records_follow_the_configured_mix() {
        let cfg = GenConfig {
            users: 20_000,
            ..GenConfig::default()
        };
        let mut per_user: HashMap<String, Vec<Option<Value>>> = HashMap::new();
        let (mut profiles, mut cards, mut erasures) = (0u64, 0u64, Vec::new());
        for rec in state_records(&cfg) {
            let key = rec.key.clone().expect("keyed");
            if let Some(bytes) = &rec.value {
                assert!(!has_duplicate_keys(bytes), "{key} repeats a key");
            }
            let v: Option<Value> = rec
                .value
                .as_deref()
                .map(|b| serde_json::from_slice(b).expect("valid JSON"));
            match rec.topic {
                GenTopic::Consent => {
                    if let Some(v) = &v {
                        assert_eq!(v["user_id"], Value::String(key.clone()));
                        assert_eq!(v["policy_version"], "2026-01");
                        assert!(is_rfc3339(v["updated_at"].as_str().expect("string")));
                    }
                    per_user.entry(key).or_default().push(v);
                }
                GenTopic::Profile => {
                    let v = v.expect("no profile tombstones");
                    profiles += 1;
                    for f in [
                        "user_id",
                        "updated_at",
                        "name",
                        "email",
                        "phone",
                        "mailing_address",
                        "preferences",
                    ] {
                        assert!(v.get(f).is_some(), "profile lacks {f}");
                    }
                    if let Some(card) = v.get("bank_card") {
                        cards += 1;
                        let card = card.as_str().expect("card is a string");
                        assert!(card.len() == 16 && luhn_ok(card), "{card}");
                        assert!(v["government_id"].is_string());
                    }
                }
                GenTopic::Erasure => erasures.push((key, v.expect("erasure value"))),
                GenTopic::Raw => panic!("raw event among state"),
            }
        }
        let n = cfg.users as f64;
        let near = |got: u64, want: f64| (got as f64 / n - want).abs() < 0.015;
        let granted_final = per_user
            .values()
            .filter(|recs| {
                recs.len() == 1
                    && recs[0]
                        .as_ref()
                        .is_some_and(|v| v["purposes"]["analytics"] == true)
            })
            .count() as u64;
        let denied = per_user
            .values()
            .filter(|recs| {
                recs.len() == 1
                    && recs[0]
                        .as_ref()
                        .is_some_and(|v| v["purposes"]["analytics"] == false)
            })
            .count() as u64;
        let withdrawn: Vec<_> = per_user.values().filter(|recs| recs.len() == 2).collect();
        let tombstones = withdrawn.iter().filter(|recs| recs[1].is_none()).count() as u64;
        assert!(near(granted_final, 0.5 + 0.05), "granted {granted_final}"); // erased users granted first
        assert!(near(denied, 0.2), "denied {denied}");
        assert!(near(withdrawn.len() as u64, 0.1));
        assert!(
            tombstones > 0 && tombstones < withdrawn.len() as u64,
            "withdrawals must mix both kinds"
        );
        for recs in &withdrawn {
            let grant = recs[0].as_ref().expect("grant first");
            assert_eq!(grant["purposes"]["analytics"], true);
            if let Some(w) = &recs[1] {
                assert_eq!(w["purposes"]["analytics"], false);
                assert!(w["updated_at"].as_str() > grant["updated_at"].as_str());
            }
        }
        assert!(near(erasures.len() as u64, 0.05));
        for (uid, e) in &erasures {
            let grant = per_user[uid][0]
                .as_ref()
                .expect("erased users granted first");
            assert!(e["requested_at"].as_str() > grant["updated_at"].as_str());
            assert!(e["request_id"].is_string());
        }
        assert!(near(profiles, 0.8), "profiles {profiles}");
        let card_share = cards as f64 / profiles as f64;
        assert!((card_share - 0.3).abs() < 0.02, "cards {card_share}");
    }

    fn luhn_ok(digits: &str) -> bool {
        let sum: u32 = digits
            .bytes()
            .rev()
            .enumerate()
            .map(|(k, c)| {
                let d = u32::from(c - b'0');
                if k % 2 == 1 {
                    if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
                } else {
                    d
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    #[test]
    fn card_numbers_pass_luhn() {
        let mut r = Rng::stream(1, 2, 3);
        for _ in 0..1000 {
            assert!(luhn_ok(&card_number(&mut r)));
        }
        assert!(luhn_ok("4111111111111111") && !luhn_ok("4111111111111112"));
    }

    #[test]
    fn average_raw_event_is_about_one_kilobyte() {
        let cfg = GenConfig {
            events: 20_000,
            ..GenConfig::default()
        };
        let total: usize = events(&cfg).map(|r| r.value.map_or(0, |v| v.len())).sum();
        let avg = total as f64 / cfg.events as f64;
        assert!((900.0..=1150.0).contains(&avg), "average event size {avg}");
    }

    #[test]
    fn shares_show_up_in_the_events() {
        let cfg = GenConfig {
            events: 20_000,
            malformed: 0.0,
            ..small()
        };
        let (mut ip, mut loc, mut v6, mut offset) = (0.0, 0.0, 0, 0);
        let mut types: HashMap<String, u32> = HashMap::new();
        for rec in events(&cfg) {
            let o = classify(&rec.value.expect("value")).expect("all valid");
            ip += f64::from(u8::from(o.contains_key("ip")));
            v6 += u32::from(
                o.get("ip")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.contains(':')),
            );
            loc += f64::from(u8::from(o.contains_key("location")));
            offset += u32::from(!o["occurred_at"].as_str().expect("string").ends_with('Z'));
            *types
                .entry(o["event_type"].as_str().expect("string").to_string())
                .or_default() += 1;
        }
        let n = cfg.events as f64;
        assert!((ip / n - 0.3).abs() < 0.02, "ip share {}", ip / n);
        assert!((loc / n - 0.1).abs() < 0.02, "location share {}", loc / n);
        assert!(v6 > 0 && offset > 0);
        let most = types.iter().max_by_key(|e| e.1).map(|e| e.0.as_str());
        assert_eq!(most, Some("page_view"));
        assert_eq!(types.len(), 7);
    }

    #[test]
    fn user_activity_is_skewed() {
        let cfg = GenConfig {
            malformed: 0.0,
            ..GenConfig::default()
        };
        let m = Model::new(&cfg);
        let mut per_user = vec![0u32; cfg.users as usize];
        for i in 0..cfg.events {
            if let (
                EventPlan {
                    actor: Actor::User(u),
                    ..
                },
                _,
            ) = plan_event(&m, i)
            {
                per_user[u as usize] += 1;
            }
        }
        per_user.sort_unstable_by(|a, b| b.cmp(a));
        let top: u32 = per_user[..100].iter().sum();
        let all: u32 = per_user.iter().sum();
        assert!(
            f64::from(top) / f64::from(all) > 0.35,
            "top 10% share {}",
            f64::from(top) / f64::from(all)
        );
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let m = Model::new(&GenConfig::default());
        let ids: HashSet<_> = (0..50_000).map(|u| user_id(&m, u)).collect();
        assert_eq!(ids.len(), 50_000);
        assert!(ids.iter().all(|id| id.len() == 15 && id.starts_with("u_")));
        let mut s = String::new();
        push_uuid(&mut s, u64::MAX, 0, false);
        assert_eq!(s, "ffffffff-ffff-4fff-8000-000000000000");
        // Distinct `v` → distinct ids even with identical noise.
        let a = unique_uuid(1, 7);
        let b = unique_uuid(1 << 3, 7);
        assert_ne!(a, b);
    }

    #[test]
    fn timestamps_format_exactly() {
        let fmt = |ms, off| {
            let mut out = Vec::new();
            push_time(&mut out, ms, off);
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(fmt(0, None), "\"1970-01-01T00:00:00.000Z\"");
        assert_eq!(fmt(DEFAULT_START_MS, None), "\"2026-11-01T00:00:00.000Z\"");
        assert_eq!(
            fmt(DEFAULT_START_MS + 123, Some(330)),
            "\"2026-11-01T05:30:00.123+05:30\""
        );
        assert_eq!(
            fmt(DEFAULT_START_MS, Some(-300)),
            "\"2026-10-31T19:00:00.000-05:00\""
        );
        assert_eq!(fmt(951_782_400_000, None), "\"2000-02-29T00:00:00.000Z\"");
    }

    #[test]
    fn strings_are_escaped_correctly() {
        let nasty = "quote \" backslash \\ nl \n tab \t nul \u{0} bell \u{7} unicode é 田 👍";
        let mut out = Vec::new();
        push_str(&mut out, nasty);
        let back: String = serde_json::from_slice(&out).expect("valid JSON string");
        assert_eq!(back, nasty);
        let mut n = Vec::new();
        push_fixed(&mut n, -500_000, 6);
        push_fixed(&mut n, 1234, 0);
        assert_eq!(n, b"-0.5000001234");
    }

    #[test]
    fn odd_configs_do_not_panic() {
        for cfg in [
            GenConfig {
                users: 0,
                events: 300,
                ..GenConfig::default()
            },
            GenConfig {
                users: 1,
                events: 300,
                identified_share: 1.0,
                ..GenConfig::default()
            },
            GenConfig {
                users: 50,
                events: 300,
                consent_granted: 2.0,
                consent_denied: f64::NAN,
                malformed: -1.0,
                ip_share: 7.0,
                start_time_ms: i64::MIN,
                ..GenConfig::default()
            },
            GenConfig {
                events: 0,
                start_time_ms: i64::MAX,
                ..GenConfig::default()
            },
        ] {
            let s = summary(&cfg);
            assert_eq!(events(&cfg).count() as u64, cfg.events);
            assert_eq!(s.events, cfg.events);
            state_records(&cfg).for_each(drop);
        }
        let s = summary(&GenConfig {
            users: 0,
            events: 300,
            ..GenConfig::default()
        });
        assert_eq!(s.identified, 0);
    }

    #[test]
    fn tables_are_well_formed() {
        assert_eq!(LOCALES.len(), LOCALE_WEIGHTS.len());
        assert_eq!(USER_AGENTS.len(), UA_WEIGHTS.len());
        for l in &LOCALES {
            assert!(
                !l.cities.is_empty()
                    && !l.v4.is_empty()
                    && !l.first.is_empty()
                    && !l.last.is_empty()
            );
            assert!(!l.languages.is_empty() && !l.streets.is_empty());
            for (base, len) in l.v4 {
                assert_eq!(
                    base & ((1u64 << (32 - u32::from(*len))) - 1) as u32,
                    0,
                    "{} range not aligned",
                    l.country
                );
            }
            for (_, slug) in l.first.iter().chain(l.last) {
                assert!(slug.bytes().all(|b| b.is_ascii_lowercase()), "{slug}");
            }
        }
        for (_, name, w) in EVENT_TYPES {
            assert!(w > 0 && !name.is_empty());
        }
        assert_eq!(EVENT_TYPES.map(|e| e.2), EVENT_TYPE_WEIGHTS);
    }
}
