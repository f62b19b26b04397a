//! Unit tests of `model`, kept beside it in their own file so the module itself stays
//! small enough to read in one sitting.

use super::*;
use serde_json::Value;

fn reason(bytes: &[u8]) -> DlqReason {
    RawEvent::parse(bytes, 1 << 20).unwrap_err().reason
}

#[test]
fn minimal_event_parses_and_borrows() {
    let raw = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00+01:00","extra":1}"#;
    let ev = RawEvent::parse(raw, 1 << 20).unwrap();
    assert!(matches!(ev.event_id, Cow::Borrowed("e1")));
    assert_eq!(format_time(&ev.occurred_at), "2026-11-29T09:00:00.000Z");
}

#[test]
fn rejections_have_stable_codes() {
    assert_eq!(reason(b"\xff"), DlqReason::InvalidUtf8);
    assert_eq!(reason(b"{"), DlqReason::InvalidJson);
    assert_eq!(reason(b""), DlqReason::InvalidJson);
    assert_eq!(reason(b"[1]"), DlqReason::SchemaViolation);
    assert_eq!(
        RawEvent::parse(b"{}", 1).unwrap_err().reason,
        DlqReason::TooLarge
    );
    let deep = format!(
        r#"{{"event_id":"e","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{}1{}}}"#,
        "{\"a\":".repeat(40),
        "}".repeat(40)
    );
    assert_eq!(reason(deep.as_bytes()), DlqReason::TooDeep);
}

#[test]
fn schema_violation_details_name_the_pointer_not_the_value() {
    let raw = br#"{"event_id":"e","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","location":{"lat":"alice@example.com","lon":1}}"#;
    let r = RawEvent::parse(raw, 1 << 20).unwrap_err();
    assert_eq!(r.reason, DlqReason::SchemaViolation);
    assert!(r.detail.starts_with("/location/lat"), "{}", r.detail);
    assert!(!r.detail.contains("alice"), "{}", r.detail);
}

#[test]
fn duplicate_keys_are_refused_everywhere() {
    let top =
        br#"{"event_id":"a","event_id":"b","event_type":"x","occurred_at":"2026-11-29T10:00:00Z"}"#;
    assert_eq!(reason(top), DlqReason::SchemaViolation);
    let nested = br#"{"event_id":"a","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{"k":1,"k":2}}"#;
    let r = RawEvent::parse(nested, 1 << 20).unwrap_err();
    assert_eq!(r.reason, DlqReason::SchemaViolation);
    assert_eq!(r.detail, "/properties: duplicate key");
    let deeper = br#"{"event_id":"a","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{"o":[{"k":1,"j":0,"k":2}]}}"#;
    let r = RawEvent::parse(deeper, 1 << 20).unwrap_err();
    assert_eq!(r.detail, "/properties/o/0: duplicate key");
}

#[test]
fn profile_records_borrow_their_fields_and_refuse_what_is_not_a_profile() {
    let ok = br#"{"phone":"+1 555","user_id":"u\u0031","updated_at":"2026-11-29T10:00:00+01:00","name":"Ada"}"#;
    let p = ProfileRecord::parse(ok).unwrap();
    assert_eq!(p.user_id, "u1");
    let utc: DateTime<Utc> = "2026-11-29T09:00:00Z".parse().unwrap();
    assert_eq!(p.updated_at, utc);
    let keys: Vec<&str> = p.fields.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["name", "phone"],
        "user_id and updated_at are not fields"
    );
    assert!(matches!(
        p.fields.get("name"),
        Some(PropValue::String(Cow::Borrowed("Ada")))
    ));
    for bad in [
        &br#"{"updated_at":"2026-11-29T10:00:00Z"}"#[..],
        br#"{"user_id":7,"updated_at":"2026-11-29T10:00:00Z"}"#,
        br#"{"user_id":"u1","updated_at":"yesterday"}"#,
        br#"{"user_id":"u1"}"#,
        br#"{"user_id":"u1","updated_at":"2026-11-29T10:00:00Z","name":"a","name":"b"}"#,
        br#"["u1"]"#,
    ] {
        assert!(
            ProfileRecord::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn properties_borrow_unescaped_strings_and_keep_key_order() {
    let raw = br#"{"event_id":"e","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{"b":"plain","a":"esc\"aped","c\u00e9":{"z":[1,-2,2.5,null,true],"y":"\u00e9"},"B":{}}}"#;
    let ev = RawEvent::parse(raw, 1 << 20).unwrap();
    let p = &ev.properties.as_ref().unwrap().0;
    let keys: Vec<&str> = p.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["B", "a", "b", "c\u{e9}"],
        "byte order, as serde_json::Map"
    );
    assert!(matches!(
        p.get("b"),
        Some(PropValue::String(Cow::Borrowed("plain")))
    ));
    assert!(matches!(p.get("a"), Some(PropValue::String(Cow::Owned(_)))));
    let whole: Value = serde_json::from_slice(raw).unwrap();
    assert_eq!(p.to_value(), whole["properties"]);
    assert_eq!(p.len(), 4);
    assert!(p.get("missing").is_none());
}

#[test]
fn identifier_limits_count_characters_as_the_schema_does() {
    let ev = |id: &str| {
        format!(r#"{{"event_id":"{id}","event_type":"x","occurred_at":"2026-11-29T10:00:00Z"}}"#)
    };
    // 200 characters, 600 bytes: valid.
    let id = "日".repeat(200);
    assert!(RawEvent::parse(ev(&id).as_bytes(), 1 << 20).is_ok());
    let too_long = "日".repeat(257);
    assert_eq!(reason(ev(&too_long).as_bytes()), DlqReason::SchemaViolation);
}

#[test]
fn consent_records_refuse_duplicate_keys_anywhere() {
    let ok = br#"{"user_id":"u1","updated_at":"2026-01-01T00:00:00Z","policy_version":"v1","purposes":{"analytics":true}}"#;
    assert!(serde_json::from_slice::<ConsentRecord>(ok).is_ok());
    let dup_purpose = br#"{"user_id":"u1","updated_at":"2026-01-01T00:00:00Z","policy_version":"v1","purposes":{"analytics":false,"analytics":true}}"#;
    assert!(serde_json::from_slice::<ConsentRecord>(dup_purpose).is_err());
    let dup_top = br#"{"user_id":"u1","user_id":"u2","updated_at":"2026-01-01T00:00:00Z","policy_version":"v1"}"#;
    assert!(serde_json::from_slice::<ConsentRecord>(dup_top).is_err());
    let dup_erasure = br#"{"user_id":"u1","request_id":"r","request_id":"s","requested_at":"2026-01-01T00:00:00Z"}"#;
    assert!(serde_json::from_slice::<ErasureRequest>(dup_erasure).is_err());
}

#[test]
fn numbers_pass_through_byte_for_byte() {
    let raw = br#"{"event_id":"e1","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{"f":0.9767485841422313,"g":1e-7,"n":-12}}"#;
    let ev = RawEvent::parse(raw, 1 << 20).unwrap();
    let out =
        serde_json::to_string(&ev.properties.unwrap().0.get("f").unwrap().to_value()).unwrap();
    assert_eq!(out, "0.9767485841422313");
}

/// `occurred_at` is read as the schema's `format: date-time` reads it (each verdict
/// below is the jsonschema validator's). Fuzzing found the core accepting a space for
/// `T` and a leap second at any minute (FUZZING.md); a bad one is a `schema_violation`.
#[test]
fn occurred_at_is_what_the_schema_calls_a_date_time() {
    let cases = [
        ("2026-11-28T14:06:00.666Z", true),
        ("2026-11-28t14:06:00z", true),
        ("2024-02-29T10:00:00Z", true),
        ("2026-11-29T10:00:00.123456789123Z", true),
        ("2026-12-31T23:59:60Z", true),
        ("2026-06-30T23:59:60.5Z", true),
        ("2027-01-01T00:59:60+01:00", true),
        ("2026-12-31T18:59:60-05:00", true),
        ("2026-11-28 14:06:00.666Z", false),
        ("2026-11-28T10:00:60Z", false),
        ("2026-12-31T23:59:60+01:00", false),
        ("2026-11-29T10:00:00\u{2212}01:00", false),
        ("2026-11-29T10:00:00.Z", false),
        ("2026-11-29T10:00:00+0100", false),
        ("2026-11-29T10:00:00+24:00", false),
        ("2026-11-29T24:00:00Z", false),
        ("2026-02-29T10:00:00Z", false),
        ("2026-11-29T10:00:00", false),
    ];
    // Valid to the schema, but no output could write the instant (a year of four
    // digits, in UTC and in any zone): refused as well, as the core may.
    let unwritable = [
        "0000-01-01T00:00:00+01:00",
        "0000-06-01T00:00:00Z",
        "9999-06-01T00:00:00Z",
    ];
    for (t, ok) in cases {
        let raw = format!(r#"{{"event_id":"e","event_type":"x","occurred_at":"{t}"}}"#);
        match RawEvent::parse(raw.as_bytes(), 1 << 20) {
            Ok(_) => assert!(ok, "{t} accepted"),
            Err(e) => {
                assert!(!ok, "{t} refused");
                assert_eq!(e.reason, DlqReason::SchemaViolation, "{t}");
            }
        }
    }
    for t in unwritable {
        let raw = format!(r#"{{"event_id":"e","event_type":"x","occurred_at":"{t}"}}"#);
        assert_eq!(reason(raw.as_bytes()), DlqReason::SchemaViolation, "{t}");
    }
    for t in ["0001-01-01T00:00:00Z", "9998-12-31T23:59:59.999Z"] {
        let raw = format!(r#"{{"event_id":"e","event_type":"x","occurred_at":"{t}"}}"#);
        let ev = RawEvent::parse(raw.as_bytes(), 1 << 20).unwrap();
        assert_eq!(format_time(&ev.occurred_at).len(), 24, "{t}");
    }
    // A leap second stays one in the outputs' UTC form.
    let raw = br#"{"event_id":"e","event_type":"x","occurred_at":"2027-01-01T00:59:60.5+01:00"}"#;
    let ev = RawEvent::parse(raw, 1 << 20).unwrap();
    assert_eq!(format_time(&ev.occurred_at), "2026-12-31T23:59:60.500Z");
}
