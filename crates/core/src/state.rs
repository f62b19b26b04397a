//! The worker's view of the user tables: consent, profile and erased users, held in
//! concurrent maps and updated from the compacted `users.consent`, `users.profile` and the
//! `users.erasure` topics. It owns the erasure/consent ordering rule (decided by the
//! records' own timestamps, not by arrival order) and keeps memory per user small: a
//! consent is a timestamp, an interned policy version (`versions`) and a purpose bitmap, never the raw
//! JSON. It keeps a bounded change log (`changes`): an epoch bumped whenever a consent
//! is narrowed or a user erased, so the worker can tell, before it commits, whether a
//! personal record it produced was decided under a consent that is gone since. A profile
//! is stored as the JSON the personal record copies plus its needles (`needles`: the
//! values to remove from outputs, prepared once at load). It does no I/O; the Kafka edge
//! and the `process` command feed it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde_json::value::RawValue;

use crate::model::{ConsentRecord, ErasureRequest, ProfileRecord, Purpose, RequestId};
use crate::scrub::{Known, Level, NeedleSet};
use crate::scrubbed_json::{scrubbed_fields_json, scrubbed_object_json};
use crate::settings::PersonalOutput;

mod arrival;

pub use arrival::{Arrival, DEFAULT_MAX_CLOCK_SKEW_MS, ERASURE_TOMBSTONE_HEADER};

mod changes;
mod versions;
pub use changes::{ChangeKey, ChangeWatch, Changed};

/// A user id of at most 15 bytes stored inline (the length in the last byte), so the
/// common short ids cost no allocation: a consent entry is 32 bytes, not 16 bytes of
/// `Box<str>` plus a 32-byte heap block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShortId([u8; 16]);

impl ShortId {
    fn new(id: &str) -> Option<ShortId> {
        let b = id.as_bytes();
        if b.len() > 15 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf[..b.len()].copy_from_slice(b);
        buf[15] = b.len() as u8;
        Some(ShortId(buf))
    }
}

/// A map keyed by user id: short ids inline, longer ones boxed.
#[derive(Debug)]
struct IdMap<V> {
    short: DashMap<ShortId, V>,
    long: DashMap<Box<str>, V>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            short: DashMap::new(),
            long: DashMap::new(),
        }
    }
}

fn update_entry<K: Eq + std::hash::Hash + Clone, V>(
    map: &DashMap<K, V>,
    k: K,
    f: impl FnOnce(Option<&V>) -> V,
) {
    match map.entry(k) {
        dashmap::mapref::entry::Entry::Occupied(mut o) => {
            let v = f(Some(o.get()));
            o.insert(v);
        }
        dashmap::mapref::entry::Entry::Vacant(e) => {
            e.insert(f(None));
        }
    }
}

impl<V: Clone> IdMap<V> {
    fn get(&self, id: &str) -> Option<V> {
        match ShortId::new(id) {
            Some(k) => self.short.get(&k).map(|v| v.clone()),
            None => self.long.get(id).map(|v| v.clone()),
        }
    }

    fn contains(&self, id: &str) -> bool {
        match ShortId::new(id) {
            Some(k) => self.short.contains_key(&k),
            None => self.long.contains_key(id),
        }
    }

    fn insert(&self, id: &str, v: V) {
        match ShortId::new(id) {
            Some(k) => {
                self.short.insert(k, v);
            }
            None => {
                self.long.insert(id.into(), v);
            }
        }
    }

    fn remove(&self, id: &str) {
        match ShortId::new(id) {
            Some(k) => {
                self.short.remove(&k);
            }
            None => {
                self.long.remove(id);
            }
        }
    }

    /// Removes the entry when `f` says so; true when it did.
    fn remove_if(&self, id: &str, f: impl FnOnce(&V) -> bool) -> bool {
        match ShortId::new(id) {
            Some(k) => self.short.remove_if(&k, |_, v| f(v)).is_some(),
            None => self.long.remove_if(id, |_, v| f(v)).is_some(),
        }
    }

    /// Sets the value to `f(current)` atomically for this id.
    fn update(&self, id: &str, f: impl FnOnce(Option<&V>) -> V) {
        match ShortId::new(id) {
            Some(k) => update_entry(&self.short, k, f),
            None => update_entry(&self.long, id.into(), f),
        }
    }

    fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }
}

/// A set of granted purposes as a bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purposes(u8);

impl Purposes {
    /// True when `p` is granted.
    pub fn grants(self, p: Purpose) -> bool {
        self.0 & p.bit() != 0
    }
    fn from_record(r: &ConsentRecord) -> Purposes {
        let mut bits = 0;
        for p in Purpose::ALL {
            if r.purposes.get(p.name()).copied().unwrap_or(false) {
                bits |= p.bit();
            }
        }
        Purposes(bits)
    }
}

/// A stored consent: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    /// `updated_at` in milliseconds since the epoch.
    pub updated_at_ms: i64,
    /// Index into the policy-version interner.
    pub policy_version: u32,
    /// Granted purposes.
    pub purposes: Purposes,
}

/// A stored profile: the fields the policy may copy, pre-serialized, and the values to
/// redact from every output (name, e-mail, phone, and card and government-id numbers,
/// which are kept only for that purpose and never copied).
#[derive(Debug)]
pub struct Profile {
    /// `updated_at` in milliseconds.
    pub updated_at_ms: i64,
    /// The copyable fields the record has, as the JSON a personal record copies, with
    /// card numbers and the user's own card and government-id values already removed
    /// (a parsed map costs about ten times the document's size in memory).
    pub fields: ProfileFields,
    /// Values to remove from the anonymous record (name, e-mail, phone, mailing
    /// address and its parts), in every layout.
    pub redact_anonymous: NeedleSet,
    /// Values to remove from every output (card and government-id numbers).
    pub redact_always: NeedleSet,
}

/// One kept profile field: its name's position in [`State::profile_fields`] and its JSON.
pub type KeptField = (u16, Box<RawValue>);

// One pointer wide, as `Profile::fields` was before outputs could differ.
const _: () = assert!(std::mem::size_of::<ProfileFields>() == 16);

/// How a profile's copyable fields are kept: as one object when every personal output
/// carries the same fields (the least memory), each on its own when outputs carry
/// different ones, so that each copies its own without parsing anything again.
#[derive(Debug)]
pub enum ProfileFields {
    /// Every kept field the record has, in key order, as one JSON object.
    Whole(Box<RawValue>),
    /// Each kept field the record has, in key order, beside its name's position in
    /// [`State::profile_fields`]. Boxed twice so that the enum is no larger than the
    /// `Whole` pointer (16 bytes, not 24: every profile pays for the larger variant).
    Each(Box<Box<[KeptField]>>),
}

/// Profile fields that are never copied, whatever the configuration says.
pub const FORBIDDEN_PROFILE_FIELDS: [&str; 2] = ["bank_card", "government_id"];
/// Profile fields whose values identify the user and are removed from anonymous records.
const REDACT_FIELDS: [&str; 4] = ["name", "email", "phone", "mailing_address"];

/// What applying an erasure did, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureOutcome {
    /// The request id.
    pub request_id: RequestId,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// A consent was removed from memory.
    pub purged_consent: bool,
    /// A profile was removed from memory.
    pub purged_profile: bool,
}

impl ErasureOutcome {
    /// The outcome as the audit record reports it, for a request applied elsewhere (the
    /// worker's audit publisher runs beside its table reader, which applied it).
    pub fn of(req: &ErasureRequest) -> ErasureOutcome {
        ErasureOutcome {
            request_id: req.request_id.clone(),
            requested_at: req.requested_at,
            purged_consent: false,
            purged_profile: false,
        }
    }
}

/// Where a consent or profile record stands under the ordering rule ([`State::admit`]).
enum Admit {
    /// Older than the one held: ignored.
    Older,
    /// Covered by the user's erasure: the entry is purged.
    Erased,
    /// The newest: stored.
    Newest,
}

/// What one `users.erasure` record did ([`State::apply_erasure_record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureApplied {
    /// A readable request, applied: audit it.
    Request(ErasureOutcome),
    /// Unreadable, but its key named a user, who is erased as of now (fail closed).
    KeyOnly,
    /// Neither a readable request nor a key: nothing could be erased.
    Unreadable,
    /// A null value: nothing to do.
    Tombstone,
}

impl ErasureApplied {
    /// Whether the record could be read (for the unreadable-records count).
    pub fn readable(&self) -> bool {
        matches!(self, ErasureApplied::Request(_) | ErasureApplied::Tombstone)
    }
}

/// Table sizes, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sizes {
    /// Users with a stored consent.
    pub consents: usize,
    /// Stored profiles.
    pub profiles: usize,
    /// Users marked erased.
    pub erased: usize,
    /// Table records so far whose `updated_at` was too far ahead to be trusted.
    pub future_dated: u64,
}

/// The user tables. Shared between worker threads behind an `Arc`.
#[derive(Debug, Default)]
pub struct State {
    consents: IdMap<Consent>,
    profiles: IdMap<Arc<Profile>>,
    erased: IdMap<i64>,
    versions: versions::Versions,
    profile_fields: Vec<String>,
    /// Keep profiles as [`ProfileFields::Each`]: the outputs carry different fields.
    split_fields: bool,
    max_clock_skew_ms: i64,
    /// Table records whose `updated_at` was too far ahead to be trusted.
    future_dated: AtomicU64,
    changes: changes::ChangeLog,
}

impl State {
    /// Empty tables that keep `profile_fields` of each profile as one object (forbidden
    /// fields are dropped even if listed): for a single personal output, or several
    /// carrying the same fields. [`State::for_outputs`] decides that from the outputs.
    pub fn new(profile_fields: &[String]) -> State {
        let mut kept: Vec<String> = Vec::new();
        for f in profile_fields {
            let forbidden = FORBIDDEN_PROFILE_FIELDS.contains(&f.as_str());
            if !forbidden && !kept.contains(f) && kept.len() < usize::from(u16::MAX) {
                kept.push(f.clone());
            }
        }
        State {
            profile_fields: kept,
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            ..State::default()
        }
    }

    /// Empty tables for `outputs`: every field some output carries is kept once, as one
    /// object when all outputs carry the same fields, else field by field.
    pub fn for_outputs(outputs: &[PersonalOutput]) -> State {
        let all: Vec<String> = outputs
            .iter()
            .flat_map(|o| o.profile_fields.iter().cloned())
            .collect();
        let mut state = State::new(&all);
        let kept = &state.profile_fields;
        state.split_fields = outputs.iter().any(|o| {
            let carried = |f: &String| o.profile_fields.contains(f);
            !kept.iter().all(carried)
        });
        state
    }

    /// The profile fields kept, in the order [`ProfileFields::Each`] positions refer to.
    pub fn profile_fields(&self) -> &[String] {
        &self.profile_fields
    }

    /// The same tables with another allowed clock skew (`limits.max_clock_skew_ms`).
    pub fn with_max_clock_skew_ms(mut self, ms: i64) -> State {
        self.max_clock_skew_ms = ms;
        self
    }

    /// How many table records so far had an `updated_at` too far ahead to be trusted.
    pub fn future_dated(&self) -> u64 {
        self.future_dated.load(Ordering::Relaxed)
    }

    fn trusted_ms(&self, updated_at: DateTime<Utc>, arrival: &Arrival) -> i64 {
        let (at, future) = arrival.trusted_ms(updated_at, self.max_clock_skew_ms);
        if future {
            self.future_dated.fetch_add(1, Ordering::Relaxed);
        }
        at
    }

    /// Applies a consent record (`None` = tombstone: consent removed). A consent older
    /// than the user's erasure is ignored: the erasure wins whatever the arrival order.
    pub fn apply_consent(&self, user: &str, record: Option<&ConsentRecord>) {
        match record {
            Some(r) => self.apply_consent_at(user, r, r.updated_at.timestamp_millis()),
            None => {
                let _change = self.note_change(user);
                self.consents.remove(user)
            }
        }
    }

    /// Applies a consent whose trusted time is `at`. Ordered by that time, not by
    /// arrival: an older record read after a newer one (another partition, a reload, a
    /// producer with another partitioner) never replaces it; on a tie the later arrival
    /// wins.
    fn apply_consent_at(&self, user: &str, r: &ConsentRecord, at: i64) {
        // Bound to a name: the guard logs the change (if it narrows) when dropped.
        let _change = self.note_change(user);
        let held = self.consents.get(user).map(|c| c.updated_at_ms);
        match self.admit(user, held, at) {
            Admit::Older => return,
            Admit::Erased => return self.consents.remove(user),
            Admit::Newest => {}
        }
        let consent = Consent {
            updated_at_ms: at,
            policy_version: self.intern(&r.policy_version),
            purposes: Purposes::from_record(r),
        };
        self.consents.insert(user, consent);
    }

    /// The ordering rule both tables share, for a record of trusted time `at` when the
    /// table holds one of time `held`: an older record never replaces a newer one (a tie
    /// goes to the later arrival), and one the user's erasure covers purges the entry.
    fn admit(&self, user: &str, held: Option<i64>, at: i64) -> Admit {
        if held.is_some_and(|h| h > at) {
            return Admit::Older;
        }
        if self.erased.get(user).is_some_and(|e| e >= at) {
            return Admit::Erased;
        }
        Admit::Newest
    }

    /// Applies a profile (`None` = tombstone). Profiles older than an erasure are ignored.
    pub fn apply_profile(&self, user: &str, record: Option<&ProfileRecord>) {
        match record {
            Some(r) => self.apply_profile_at(user, r, r.updated_at.timestamp_millis()),
            None => self.profiles.remove(user),
        }
    }

    /// Applies a profile whose trusted time is `at`, ordered as consents are.
    fn apply_profile_at(&self, user: &str, r: &ProfileRecord, at: i64) {
        let held = self.profiles.get(user).map(|p| p.updated_at_ms);
        match self.admit(user, held, at) {
            Admit::Older => return,
            Admit::Erased => return self.profiles.remove(user),
            Admit::Newest => {}
        }
        let redact_always = needles::forbidden(&r.fields, &FORBIDDEN_PROFILE_FIELDS);
        let never = Known::of([Some(&redact_always), None]);
        let fields = self.copyable(&r.fields, &never);
        let profile = Profile {
            updated_at_ms: at,
            fields,
            redact_anonymous: needles::identifying(&r.fields, &REDACT_FIELDS),
            redact_always,
        };
        self.profiles.insert(user, Arc::new(profile));
    }

    /// A profile's kept fields, scrubbed, in the form this state keeps them. Serializing
    /// our own scrubbed tree does not fail; if it ever did, the profile would be kept
    /// with nothing to copy (fail closed).
    fn copyable(&self, fields: &crate::model::PropMap<'_>, never: &Known<'_>) -> ProfileFields {
        let (kept, level) = (&self.profile_fields, Level::CardsOnly);
        if !self.split_fields {
            let whole = scrubbed_object_json(fields, kept, level, never);
            return ProfileFields::Whole(whole.unwrap_or_else(|_| empty_object()));
        }
        let each: Box<[_]> = scrubbed_fields_json(fields, kept, level, never)
            .unwrap_or_default()
            .into_iter()
            // `State::new` keeps at most `u16::MAX` names, so every position fits.
            .filter_map(|(at, json)| Some((u16::try_from(at).ok()?, json)))
            .collect();
        ProfileFields::Each(Box::new(each))
    }

    /// Applies one `users.consent` record as it arrives: key and value bytes, no value
    /// being a tombstone. Fails closed: a value that cannot be read, or whose `user_id`
    /// is not its key (compaction keeps the key, so a body naming someone else is
    /// refused rather than guessed at), removes the key's consent. `updated_at` is
    /// trusted only within the clock-skew rule of [`Arrival`]. A tombstone the worker
    /// wrote for an erasure removes only what that erasure covers. Returns whether the
    /// record was readable; a record with neither key nor readable value changes nothing.
    pub fn apply_consent_record(
        &self,
        key: Option<&str>,
        value: Option<&[u8]>,
        arrival: &Arrival,
    ) -> bool {
        apply_record(
            key,
            value,
            |r: &ConsentRecord| r.user_id.as_str(),
            |user, r| match r {
                Some(r) => self.apply_consent_at(user, r, self.trusted_ms(r.updated_at, arrival)),
                None => self.remove_consent(user, arrival),
            },
        )
    }

    /// As [`State::apply_consent_record`], for one `users.profile` record.
    pub fn apply_profile_record(
        &self,
        key: Option<&str>,
        value: Option<&[u8]>,
        arrival: &Arrival,
    ) -> bool {
        apply_record(
            key,
            value,
            |r: &ProfileRecord| &r.user_id,
            |user, r| match r {
                Some(r) => self.apply_profile_at(user, r, self.trusted_ms(r.updated_at, arrival)),
                None => self.remove_profile(user, arrival),
            },
        )
    }

    /// A worker's erasure tombstone is itself a record of the erasure: it marks the user
    /// erased as of the request (so a re-published older record cannot revive them even
    /// where the erasure topic was lost) and removes only what the request covers.
    fn remove_consent(&self, user: &str, arrival: &Arrival) {
        match arrival.erasure_at {
            Some(r) => {
                self.erase_user(user, r.timestamp_millis());
            }
            None => {
                let _change = self.note_change(user);
                self.consents.remove(user)
            }
        }
    }

    fn remove_profile(&self, user: &str, arrival: &Arrival) {
        match arrival.erasure_at {
            Some(r) => {
                self.erase_user(user, r.timestamp_millis());
            }
            None => self.profiles.remove(user),
        }
    }

    /// Applies one `users.erasure` record as it arrives — the one place erasure records
    /// are parsed and applied. Fails closed: a value that cannot be read but whose key
    /// names a user erases that user as of the record's arrival (there is no request id
    /// to audit); a
    /// readable request whose key names someone else erases both. A null value (a
    /// tombstone left by compaction) changes nothing.
    pub fn apply_erasure_record(
        &self,
        key: Option<&str>,
        value: Option<&[u8]>,
        arrival: &Arrival,
    ) -> ErasureApplied {
        // The record's own write time, so a restart erases as of the same instant.
        let now = arrival.vouched_ms();
        let Some(value) = value else {
            return ErasureApplied::Tombstone;
        };
        match serde_json::from_slice::<ErasureRequest>(value) {
            Ok(req) => {
                if let Some(k) = key.filter(|k| *k != req.user_id.as_str()) {
                    self.erase_user(k, now);
                }
                ErasureApplied::Request(self.apply_erasure(&req))
            }
            Err(_) => match key {
                Some(k) => {
                    self.erase_user(k, now);
                    ErasureApplied::KeyOnly
                }
                None => ErasureApplied::Unreadable,
            },
        }
    }

    fn erase_user(&self, user: &str, at: i64) -> (bool, bool) {
        let _change = self.note_change(user);
        let purged_consent = self.consents.remove_if(user, |c| c.updated_at_ms <= at);
        let purged_profile = self.profiles.remove_if(user, |p| p.updated_at_ms <= at);
        self.erased
            .update(user, |e| e.map_or(at, |prev| (*prev).max(at)));
        (purged_consent, purged_profile)
    }

    /// Applies an erasure request: purges what is older than the request and marks the
    /// user so that only a consent given after the request re-enables personal output.
    pub fn apply_erasure(&self, r: &ErasureRequest) -> ErasureOutcome {
        let (purged_consent, purged_profile) =
            self.erase_user(r.user_id.as_str(), r.requested_at.timestamp_millis());
        ErasureOutcome {
            request_id: r.request_id.clone(),
            requested_at: r.requested_at,
            purged_consent,
            purged_profile,
        }
    }

    /// The user's consent, if any and if it is newer than any erasure.
    pub fn consent(&self, user: &str) -> Option<Consent> {
        let c = self.consents.get(user)?;
        match self.erased.get(user) {
            Some(e) if e >= c.updated_at_ms => None,
            _ => Some(c),
        }
    }

    /// True when the user has an erasure on record.
    pub fn is_erased(&self, user: &str) -> bool {
        self.erased.contains(user)
    }

    /// The user's profile, if any.
    pub fn profile(&self, user: &str) -> Option<Arc<Profile>> {
        self.profiles.get(user)
    }

    /// The policy version text for an interned index.
    pub fn policy_version(&self, idx: u32) -> Arc<str> {
        self.versions.get(idx)
    }

    /// Table sizes.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            consents: self.consents.len(),
            profiles: self.profiles.len(),
            erased: self.erased.len(),
            future_dated: self.future_dated(),
        }
    }

    /// The change log's epoch: read it before deciding, pass it to
    /// [`ChangeWatch::note`], and [`State::changed_since`] tells whether the user's
    /// consent was narrowed (or the user erased) after that decision.
    pub fn epoch(&self) -> u64 {
        self.changes.epoch()
    }

    /// The change log's key for `user`.
    pub fn change_key(&self, user: &str) -> ChangeKey {
        self.changes.key(user)
    }

    /// Whether any user in `watch` had their consent narrowed or was erased after the
    /// epoch noted for them. Conservative: [`Changed::Unknown`] when the bounded log no
    /// longer reaches back that far; a hash shared with a user who changed reads as a
    /// change.
    pub fn changed_since(&self, watch: &ChangeWatch) -> Changed {
        self.changes.changed_since(watch)
    }

    /// Starts logging a change to `user`'s consent or erasure mark: keep the returned
    /// value until the change is applied (bind it, `let _change = …`, at the top of the
    /// function); when it drops it logs the user if their consent was narrowed.
    fn note_change<'a>(&'a self, user: &'a str) -> changes::Pending<'a> {
        changes::Pending::new(self, user)
    }

    fn intern(&self, version: &str) -> u32 {
        self.versions.intern(version)
    }
}

/// What a profile's copyable fields become if they cannot be serialized (they always
/// can: the fallback only avoids a panic path).
fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned())
        // Proven: "{}" is valid JSON.
        .unwrap_or_else(|_| unreachable!("\"{{}}\" is valid JSON"))
}

/// The fail-closed rule of [`State::apply_consent_record`] for a table whose records
/// name their user in `user_id`; `apply(user, None)` removes the user's entry.
fn apply_record<'v, R: serde::Deserialize<'v>>(
    key: Option<&str>,
    value: Option<&'v [u8]>,
    user_id: fn(&R) -> &str,
    apply: impl Fn(&str, Option<&R>),
) -> bool {
    let rec = value.map(serde_json::from_slice::<R>);
    match (key, rec) {
        (Some(k), None) => {
            apply(k, None);
            true
        }
        (key, Some(Ok(rec))) if key.is_none_or(|k| k == user_id(&rec)) => {
            apply(user_id(&rec), Some(&rec));
            true
        }
        (key, _) => {
            if let Some(k) = key {
                apply(k, None);
            }
            false
        }
    }
}

mod needles;

#[cfg(test)]
mod tests;
