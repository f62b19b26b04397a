//! Fuzz target: `Core::process` on arbitrary bytes against the fixed state snapshot of
//! `examples/` (consents, profiles, erasures). Invariants (`consent_enricher_fuzz::
//! check_all`): no panic; one anonymous record or one dead letter; records valid against
//! `schemas/`; the dead-letter contract; no identifier of the event or of its user in the
//! anonymous record. Test code: panics are how it reports.
#![no_main]

use consent_enricher_fuzz::{Fixture, check_all};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_all(Fixture::get(), Some(b"u_alice"), data);
});
