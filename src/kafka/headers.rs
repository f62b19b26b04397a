//! Reading a consumed record's headers safely: names as bytes, straight from
//! librdkafka's header list (the crate's only unsafe code). Both the worker (trace
//! context) and the table reader (the erasure-tombstone marker) read headers through it.
//! It owns no policy about which header means what.

use rdkafka::bindings as rd;
use rdkafka::message::BorrowedMessage;

/// `msg`'s headers as (name bytes, value), read from librdkafka directly. rdkafka's
/// `Headers` API unwraps each name's UTF-8 conversion, so one header whose name is not
/// UTF-8 (any client can send one) panics the worker on that record — and again on
/// every restart, as the record is never committed. Names here stay bytes.
pub fn raw<'m>(
    msg: &'m BorrowedMessage<'_>,
) -> impl Iterator<Item = (&'m [u8], Option<&'m [u8]>)> + 'm {
    let mut hdrs: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `msg.ptr()` is the live message `msg` wraps; librdkafka parses its headers
    // into a list it owns inside that message, so `hdrs` stays valid while `msg` does.
    let err = unsafe { rd::rd_kafka_message_headers(msg.ptr(), &raw mut hdrs) };
    let n = if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && !hdrs.is_null() {
        // SAFETY: `hdrs` is the message's non-null header list (above).
        unsafe { rd::rd_kafka_header_cnt(hdrs) }
    } else {
        0
    };
    (0..n).filter_map(move |idx| {
        let mut name: *const std::ffi::c_char = std::ptr::null();
        let mut value: *const std::ffi::c_void = std::ptr::null();
        let mut size = 0usize;
        // SAFETY: `hdrs` is valid while `msg` is (above) and `idx` is below its count;
        // librdkafka only writes the three out-pointers.
        let err = unsafe {
            rd::rd_kafka_header_get_all(hdrs, idx, &raw mut name, &raw mut value, &raw mut size)
        };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            return None;
        }
        // SAFETY: librdkafka keeps each name NUL-terminated and each value as `size`
        // bytes (null for a null value), owned by the message like the list itself.
        let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes();
        let value = (!value.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) });
        Some((name, value))
    })
}
