//! Unit tests of `state`, kept beside it in their own file so the module itself stays
//! small enough to read in one sitting.

use super::*;
use crate::scrub::NeedleKind;

fn consent(user: &str, at: &str, analytics: bool) -> ConsentRecord {
    serde_json::from_value(serde_json::json!({
        "user_id": user, "updated_at": at, "policy_version": "v1",
        "purposes": {"analytics": analytics}
    }))
    .unwrap()
}

fn erasure(user: &str, at: &str) -> ErasureRequest {
    serde_json::from_value(
        serde_json::json!({"user_id": user, "request_id": "r1", "requested_at": at}),
    )
    .unwrap()
}

fn fields() -> Vec<String> {
    ["name", "email", "bank_card"].map(String::from).to_vec()
}

#[test]
fn table_records_fail_closed() {
    let s = State::new(&fields());
    let grant = |u: &str| {
        format!(
            r#"{{"user_id":"{u}","updated_at":"2026-01-01T00:00:00Z","policy_version":"v1","purposes":{{"analytics":true}}}}"#
        )
    };
    for u in ["u1", "u2", "u3", "u4"] {
        assert!(s.apply_consent_record(Some(u), Some(grant(u).as_bytes()), &Arrival::at(at0())));
    }
    // Keyless: the body names the user.
    assert!(s.apply_consent_record(None, Some(grant("u5").as_bytes()), &Arrival::at(at0())));
    assert!(s.consent("u5").is_some());
    // Tombstone.
    assert!(s.apply_consent_record(Some("u1"), None, &Arrival::at(at0())));
    assert!(s.consent("u1").is_none());
    // Unreadable, or naming another user: the key's consent goes.
    assert!(!s.apply_consent_record(Some("u2"), Some(b"{not json"), &Arrival::at(at0())));
    assert!(s.consent("u2").is_none());
    assert!(!s.apply_consent_record(
        Some("u3"),
        Some(grant("u4").as_bytes()),
        &Arrival::at(at0())
    ));
    assert!(s.consent("u3").is_none());
    assert!(s.consent("u4").is_some(), "the named user is not touched");
    // Neither key nor readable body: nothing to act on.
    assert!(!s.apply_consent_record(None, Some(b"[]"), &Arrival::at(at0())));
    assert!(!s.apply_consent_record(None, None, &Arrival::at(at0())));
    assert_eq!(s.sizes().consents, 2);
}

#[test]
fn erasure_records_fail_closed() {
    let s = State::new(&fields());
    let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    for u in ["u1", "u2", "u3", "u4"] {
        s.apply_consent(u, Some(&consent(u, "2026-01-01T00:00:00Z", true)));
    }
    let req = |u: &str| {
        format!(r#"{{"user_id":"{u}","request_id":"r-{u}","requested_at":"2026-02-01T00:00:00Z"}}"#)
    };
    let applied = s.apply_erasure_record(Some("u1"), Some(req("u1").as_bytes()), &Arrival::at(now));
    assert!(matches!(&applied, ErasureApplied::Request(o) if o.request_id.as_str() == "r-u1"));
    assert!(s.consent("u1").is_none());
    // An unknown field: unreadable, but the key is erased now rather than dropped.
    let odd = br#"{"user_id":"u2","request_id":"r","requested_at":"2026-02-01T00:00:00Z","x":1}"#;
    assert_eq!(
        s.apply_erasure_record(Some("u2"), Some(odd), &Arrival::at(now)),
        ErasureApplied::KeyOnly
    );
    assert!(s.consent("u2").is_none() && s.is_erased("u2"));
    // A key naming someone else than the body: both are erased.
    assert!(
        s.apply_erasure_record(Some("u3"), Some(req("u4").as_bytes()), &Arrival::at(now))
            .readable()
    );
    assert!(s.consent("u3").is_none() && s.consent("u4").is_none());
    // Nothing to act on.
    assert_eq!(
        s.apply_erasure_record(None, Some(b"{"), &Arrival::at(now)),
        ErasureApplied::Unreadable
    );
    assert_eq!(
        s.apply_erasure_record(Some("u5"), None, &Arrival::at(now)),
        ErasureApplied::Tombstone
    );
    assert!(!s.is_erased("u5"));
}

#[test]
fn profile_records_fail_closed() {
    let s = State::new(&fields());
    let p = br#"{"user_id":"u1","updated_at":"2026-01-01T00:00:00Z","name":"A"}"#;
    assert!(s.apply_profile_record(Some("u1"), Some(p), &Arrival::at(at0())));
    assert!(s.profile("u1").is_some());
    assert!(!s.apply_profile_record(Some("u1"), Some(b"1"), &Arrival::at(at0())));
    assert!(s.profile("u1").is_none());
    // A key given twice: which value a reader takes is exactly what must not be
    // guessed, so the whole profile goes.
    assert!(s.apply_profile_record(Some("u1"), Some(p), &Arrival::at(at0())));
    let twice = br#"{"user_id":"u1","updated_at":"2026-01-01T00:00:00Z","name":"A","name":"B"}"#;
    assert!(!s.apply_profile_record(Some("u1"), Some(twice), &Arrival::at(at0())));
    assert!(s.profile("u1").is_none());
}

#[test]
fn consent_and_tombstone() {
    let s = State::new(&fields());
    s.apply_consent("u1", Some(&consent("u1", "2026-01-01T00:00:00Z", true)));
    assert!(s.consent("u1").unwrap().purposes.grants(Purpose::Analytics));
    assert!(!s.consent("u1").unwrap().purposes.grants(Purpose::Marketing));
    s.apply_consent("u1", None);
    assert!(s.consent("u1").is_none());
}

#[test]
fn erasure_wins_by_timestamp_in_either_order() {
    for consent_first in [true, false] {
        let s = State::new(&fields());
        let old = consent("u1", "2026-01-01T00:00:00Z", true);
        let e = erasure("u1", "2026-02-01T00:00:00Z");
        if consent_first {
            s.apply_consent("u1", Some(&old));
            assert!(s.apply_erasure(&e).purged_consent);
        } else {
            s.apply_erasure(&e);
            s.apply_consent("u1", Some(&old));
        }
        assert!(s.consent("u1").is_none(), "consent_first={consent_first}");
        let newer = consent("u1", "2026-03-01T00:00:00Z", true);
        s.apply_consent("u1", Some(&newer));
        assert!(s.consent("u1").is_some());
        assert!(s.is_erased("u1"));
    }
}

#[test]
fn forbidden_profile_fields_are_never_kept_for_copying() {
    let s = State::new(&fields());
    let bytes = serde_json::to_vec(&serde_json::json!({
        "user_id": "u1", "updated_at": "2026-01-01T00:00:00Z", "name": "Ada Lovelace",
        "email": "ada@example.com",
        "bank_card": {"number": "4111 1111 1111 1111", "holder": "ADA LOVELACE", "expires": "12/28"},
        "government_id": "X1"
    }))
    .unwrap();
    let p = ProfileRecord::parse(&bytes).unwrap();
    s.apply_profile("u1", Some(&p));
    let got = s.profile("u1").unwrap();
    let ProfileFields::Whole(whole) = &got.fields else {
        panic!("one output's fields are kept whole");
    };
    let kept: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(whole.get()).unwrap();
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["email", "name"]);
    assert_eq!(
        got.redact_always.len(),
        1,
        "only the card's number: not its holder (the user's name) nor the short id"
    );
    assert!(
        got.redact_always
            .holds("4111-1111-1111-1111", NeedleKind::Token)
    );
    assert!(got.redact_anonymous.holds("ada lovelace", NeedleKind::Word));
    assert!(whole.get().contains("Ada Lovelace"), "the name is kept");
}

#[test]
fn policy_versions_are_interned() {
    let s = State::new(&fields());
    s.apply_consent("a", Some(&consent("a", "2026-01-01T00:00:00Z", true)));
    s.apply_consent("b", Some(&consent("b", "2026-01-01T00:00:00Z", true)));
    let (a, b) = (s.consent("a").unwrap(), s.consent("b").unwrap());
    assert_eq!(a.policy_version, b.policy_version);
    assert_eq!(&*s.policy_version(a.policy_version), "v1");
    assert_eq!(std::mem::size_of::<Consent>(), 16);
}

fn at0() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

#[test]
fn records_are_ordered_by_updated_at_not_by_arrival() {
    let s = State::new(&fields());
    s.apply_consent("u1", Some(&consent("u1", "2026-03-01T00:00:00Z", false)));
    // An older grant read later (another partition, a reload) does not win.
    s.apply_consent("u1", Some(&consent("u1", "2026-02-01T00:00:00Z", true)));
    assert!(
        s.consent("u1")
            .is_some_and(|c| !c.purposes.grants(Purpose::Analytics))
    );
    // A tie goes to the later arrival.
    s.apply_consent("u1", Some(&consent("u1", "2026-03-01T00:00:00Z", true)));
    assert!(
        s.consent("u1")
            .is_some_and(|c| c.purposes.grants(Purpose::Analytics))
    );
}

#[test]
fn a_future_updated_at_is_treated_as_its_write_time_and_counted() {
    let s = State::new(&fields());
    let written: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    let arrival = Arrival {
        written_at: Some(written),
        erasure_at: None,
        now: written,
    };
    let ahead = br#"{"user_id":"u1","updated_at":"2026-06-02T00:00:00Z","policy_version":"v1","purposes":{"analytics":true}}"#;
    assert!(s.apply_consent_record(Some("u1"), Some(ahead), &arrival));
    assert_eq!(s.future_dated(), 1);
    // An erasure requested after the write but before the claimed time purges it.
    let erase = erasure("u1", "2026-06-01T01:00:00Z");
    s.apply_erasure(&erase);
    assert!(s.consent("u1").is_none());
    // Within the allowed skew, the claimed time stands.
    let near = br#"{"user_id":"u2","updated_at":"2026-06-01T00:04:00Z","policy_version":"v1","purposes":{"analytics":true}}"#;
    assert!(s.apply_consent_record(Some("u2"), Some(near), &arrival));
    assert_eq!(s.future_dated(), 1);
}

#[test]
fn an_erasure_tombstone_removes_only_what_the_erasure_covers_and_marks_the_user() {
    let s = State::new(&fields());
    let t = |at: &str| Arrival {
        written_at: None,
        erasure_at: Some(at.parse().unwrap()),
        now: at0(),
    };
    s.apply_consent("u1", Some(&consent("u1", "2026-01-01T00:00:00Z", true)));
    assert!(s.apply_consent_record(Some("u1"), None, &t("2026-02-01T00:00:00Z")));
    assert!(s.consent("u1").is_none() && s.is_erased("u1"));
    // The same old grant re-published (a CDC re-sync) stays refused.
    s.apply_consent("u1", Some(&consent("u1", "2026-01-01T00:00:00Z", true)));
    assert!(s.consent("u1").is_none());
    // A re-consent after the request survives a tombstone that arrives after it.
    s.apply_consent("u2", Some(&consent("u2", "2026-03-01T00:00:00Z", true)));
    assert!(s.apply_consent_record(Some("u2"), None, &t("2026-02-01T00:00:00Z")));
    assert!(s.consent("u2").is_some());
    // An upstream tombstone (no marker) removes whatever is held.
    assert!(s.apply_consent_record(Some("u2"), None, &Arrival::at(at0())));
    assert!(s.consent("u2").is_none());
}

// ---------------------------------------------------------------- the change log

/// A watch of `users`, each decided at the current epoch (as the worker notes them).
fn watching(s: &State, users: &[&str]) -> ChangeWatch {
    let mut w = ChangeWatch::default();
    for u in users {
        w.note(s.change_key(u), s.epoch());
    }
    w
}

fn marketing(user: &str, at: &str) -> ConsentRecord {
    serde_json::from_value(serde_json::json!({
        "user_id": user, "updated_at": at, "policy_version": "v1",
        "purposes": {"analytics": true, "marketing": true}
    }))
    .unwrap()
}

#[test]
fn a_withdrawal_after_a_decision_is_a_change_and_one_before_it_is_not() {
    let s = State::new(&fields());
    s.apply_consent("u1", Some(&consent("u1", "2026-01-01T00:00:00Z", true)));
    s.apply_consent("u2", Some(&consent("u2", "2026-01-01T00:00:00Z", true)));
    let before = watching(&s, &["u1", "u2"]);
    assert_eq!(s.changed_since(&before), Changed::Nothing);
    s.apply_consent("u1", None);
    assert_eq!(s.epoch(), 1);
    assert_eq!(
        s.changed_since(&before),
        Changed::Users(vec![s.change_key("u1")])
    );
    // Decided after the withdrawal was applied: that decision already saw it.
    let after = watching(&s, &["u1", "u2"]);
    assert_eq!(s.changed_since(&after), Changed::Nothing);
    // Another user's withdrawal is not ours.
    assert_eq!(s.changed_since(&watching(&s, &["u2"])), Changed::Nothing);
    s.apply_consent("u3", Some(&consent("u3", "2026-01-01T00:00:00Z", true)));
    s.apply_consent("u3", None);
    assert_eq!(s.changed_since(&watching(&s, &["u2"])), Changed::Nothing);
    assert_eq!(s.changed_since(&ChangeWatch::default()), Changed::Nothing);
}

#[test]
fn only_a_narrowing_or_an_erasure_is_a_change() {
    let s = State::new(&fields());
    // A first grant, a republished grant, a widening: no decision taken can be wrong.
    s.apply_consent("u1", Some(&consent("u1", "2026-01-01T00:00:00Z", true)));
    s.apply_consent("u1", Some(&consent("u1", "2026-01-02T00:00:00Z", true)));
    s.apply_consent("u1", Some(&marketing("u1", "2026-01-03T00:00:00Z")));
    // A tombstone or a denial for a user without consent changes no decision either.
    s.apply_consent("nobody", None);
    s.apply_consent(
        "denied",
        Some(&consent("denied", "2026-01-01T00:00:00Z", false)),
    );
    s.apply_consent("denied", None);
    assert_eq!(s.epoch(), 0);
    // Narrowing: marketing withdrawn, analytics kept — still a change (the log does
    // not know which purpose the policy asks for).
    let w = watching(&s, &["u1"]);
    s.apply_consent("u1", Some(&consent("u1", "2026-01-04T00:00:00Z", true)));
    assert_eq!(
        s.changed_since(&w),
        Changed::Users(vec![s.change_key("u1")])
    );
    // A grant with every purpose off.
    let w = watching(&s, &["u1"]);
    s.apply_consent("u1", Some(&consent("u1", "2026-01-05T00:00:00Z", false)));
    assert_ne!(s.changed_since(&w), Changed::Nothing);
    // An erasure, also through an erasure record, even with no consent to purge (the
    // profile a personal record carries goes too).
    s.apply_consent("u2", Some(&consent("u2", "2026-01-01T00:00:00Z", true)));
    let w = watching(&s, &["u2", "u4"]);
    s.apply_erasure(&erasure("u2", "2026-02-01T00:00:00Z"));
    assert_eq!(
        s.changed_since(&w),
        Changed::Users(vec![s.change_key("u2")])
    );
    let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    s.apply_erasure_record(Some("u4"), Some(b"{not json"), &Arrival::at(now));
    let Changed::Users(mut got) = s.changed_since(&w) else {
        panic!("both erasures are changes")
    };
    got.sort();
    let mut want = vec![s.change_key("u2"), s.change_key("u4")];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn each_user_is_judged_from_their_own_decision() {
    let s = State::new(&fields());
    for u in ["u1", "u2"] {
        s.apply_consent(u, Some(&consent(u, "2026-01-01T00:00:00Z", true)));
    }
    let mut w = ChangeWatch::default();
    w.note(s.change_key("u1"), s.epoch());
    s.apply_consent("u2", None);
    // u2 decided after its withdrawal was applied; u1 before, and u1 did not change.
    w.note(s.change_key("u2"), s.epoch());
    assert_eq!(s.changed_since(&w), Changed::Nothing);
    // A second record of u2 decided earlier than the first noted: the earliest counts.
    w.note(s.change_key("u2"), 0);
    assert_eq!(
        s.changed_since(&w),
        Changed::Users(vec![s.change_key("u2")])
    );
    assert_eq!(w.len(), 2);
    w.clear();
    assert!(w.is_empty());
    assert_eq!(s.changed_since(&w), Changed::Nothing);
}

#[test]
fn the_log_is_bounded_and_answers_changed_when_it_no_longer_reaches_back() {
    let s = State {
        changes: changes::ChangeLog::with_capacity(4),
        ..State::new(&fields())
    };
    s.apply_consent("old", Some(&consent("old", "2026-01-01T00:00:00Z", true)));
    let w = watching(&s, &["old"]);
    let churn = |n: usize| {
        for i in 0..n {
            let u = format!("churn-{i}");
            s.apply_consent(&u, Some(&consent(&u, "2026-01-01T00:00:00Z", true)));
            s.apply_consent(&u, None);
        }
    };
    churn(4);
    // Four changes since the decision, four kept: the log still reaches back.
    assert_eq!(s.changed_since(&w), Changed::Nothing);
    churn(1);
    assert_eq!(s.changes.len(), 4, "memory stays bounded");
    assert_eq!(s.changed_since(&w), Changed::Unknown, "fail closed");
    // A decision taken since is judged exactly again.
    assert_eq!(s.changed_since(&watching(&s, &["old"])), Changed::Nothing);
    // The default: 1 MiB of (epoch, key) pairs, whatever the number of users.
    assert_eq!(
        changes::CAPACITY * std::mem::size_of::<(u64, ChangeKey)>(),
        1 << 20
    );
}

#[test]
fn outputs_with_different_fields_get_each_field_once_on_its_own() {
    use crate::settings::{PersonalOutput, PolicyConfig};
    let policy = PolicyConfig::default();
    let wide = PersonalOutput::single(&policy, "a");
    let narrow = PersonalOutput {
        profile_fields: vec!["email".into(), "bank_card".into()],
        ..PersonalOutput::single(&policy, "b")
    };
    let same = State::for_outputs(&[wide.clone(), wide.clone()]);
    assert_eq!(same.profile_fields(), policy.profile_fields);
    let split = State::for_outputs(&[wide, narrow]);
    assert_eq!(
        split.profile_fields(),
        policy.profile_fields,
        "each once, none forbidden"
    );
    let bytes = br#"{"user_id":"u1","updated_at":"2026-01-01T00:00:00Z","name":"Ada","email":"ada@example.com"}"#;
    let p = ProfileRecord::parse(bytes).unwrap();
    same.apply_profile("u1", Some(&p));
    split.apply_profile("u1", Some(&p));
    assert!(matches!(
        same.profile("u1").unwrap().fields,
        ProfileFields::Whole(_)
    ));
    let got = split.profile("u1").unwrap();
    let ProfileFields::Each(each) = &got.fields else {
        panic!("outputs carry different fields: kept field by field");
    };
    let names: Vec<&str> = each
        .iter()
        .map(|(at, _)| split.profile_fields()[usize::from(*at)].as_str())
        .collect();
    assert_eq!(names, ["email", "name"]);
}
