//! Fuzz target: URL reduction (`url::anonymize`, `url::referrer_host`, `url::scrub_cards`,
//! `url::percent_decode`) with known values taken from the input. Invariants: no panic;
//! an anonymized URL is `scheme://host/path[?query]` with a lower-case scheme, no
//! fragment, user-info or port, and anonymizing it again changes nothing (it is already
//! what the anonymous record may keep); a referrer host is a reduced host that reduces
//! to itself. Test code: panics are how it reports.
#![no_main]

use consent_enricher_core::scrub::Known;
use consent_enricher_core::url;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let n = u.int_in_range(0u8..=2)?;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..n {
        ids.push(u.arbitrary()?);
    }
    let text = String::from_utf8_lossy(u.take_rest()).into_owned();
    let known = Known::with_ids(ids.iter().map(String::as_str), [None, None]);
    let allow: Vec<String> = ["utm_source", "utm_medium", "utm_campaign", "q"]
        .map(String::from)
        .to_vec();
    if let Some(out) = url::anonymize(&text, &allow, &known) {
        let (scheme, rest) = out
            .split_once("://")
            .unwrap_or_else(|| panic!("no scheme: {out:?}"));
        assert_eq!(scheme, scheme.to_ascii_lowercase(), "{out:?}");
        assert!(!out.contains('#'), "fragment kept: {out:?}");
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        assert!(!authority.contains('@'), "user-info kept: {out:?}");
        assert!(
            !authority.contains(':') || authority.starts_with('['),
            "port kept: {out:?}"
        );
        let again = url::anonymize(&out, &allow, &known);
        assert_eq!(again.as_deref(), Some(out.as_str()), "not stable: {text:?}");
    }
    if let Some(host) = url::referrer_host(&text, &known) {
        let again = url::referrer_host(&format!("https://{host}/"), &known);
        assert_eq!(
            again.as_deref(),
            Some(host.as_str()),
            "host not stable: {text:?}"
        );
    }
    let _ = url::scrub_cards(&text, &known);
    let _ = url::percent_decode(&text);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
