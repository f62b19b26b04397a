//! Two librdkafka admin calls rust-rdkafka does not wrap: CreateAcls (`acls --apply`)
//! and DescribeTopics with the caller's authorized operations (the start-up permission
//! check). It owns every `unsafe` block of the crate: each call makes its own queue,
//! waits for its one result event up to a deadline and frees what it allocated on every
//! path. It moves descriptions in and codes out and decides nothing.

use std::ffi::{CStr, CString, c_char};
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::RDKafkaErrorCode;

use super::acls::{Acl, Operation, Pattern, Resource};

/// Why a native call failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// A name contained a NUL byte.
    #[error("a name contains a NUL byte")]
    Nul,
    /// librdkafka refused to build a request (its message).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No result within the deadline.
    #[error("no answer from the cluster within {0:?}")]
    TimedOut(Duration),
    /// The request failed as a whole (broker or client error).
    #[error("{code:?} ({message})")]
    Failed {
        /// librdkafka's code.
        code: RDKafkaErrorCode,
        /// librdkafka's message.
        message: String,
    },
}

/// One topic's answer to DescribeTopics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOps {
    /// The operations the caller may perform (empty: the broker did not say).
    Allowed(Vec<Operation>),
    /// The topic could not be described (missing, or Describe denied).
    Error(RDKafkaErrorCode),
}

/// Owned admin options and a queue, destroyed together.
struct Request {
    options: *mut rd::rd_kafka_AdminOptions_t,
    queue: *mut rd::rd_kafka_queue_t,
}

impl Request {
    fn new<C: ClientContext>(client: &Client<C>, op: rd::rd_kafka_admin_op_t) -> Request {
        let rk = client.native_ptr();
        // SAFETY: `rk` is a live client handle owned by `client`, which outlives the
        // request (it is borrowed for the whole call); both objects are freed in `drop`.
        unsafe {
            Request {
                options: rd::rd_kafka_AdminOptions_new(rk, op),
                queue: rd::rd_kafka_queue_new(rk),
            }
        }
    }

    fn set_timeout(&self, timeout: Duration) -> Result<(), NativeError> {
        let mut errstr = [0 as c_char; 256];
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `options` is live; `errstr` is a writable buffer of the size passed.
        let err = unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                self.options,
                ms,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(NativeError::Invalid(c_text(errstr.as_ptr())));
        }
        Ok(())
    }

    /// Waits for the result event (admin calls post exactly one on their queue).
    fn wait(&self, timeout: Duration) -> Result<Event, NativeError> {
        let until = Instant::now() + timeout + Duration::from_secs(1);
        while Instant::now() < until {
            // SAFETY: `queue` is live until `drop`.
            let ev = unsafe { rd::rd_kafka_queue_poll(self.queue, 100) };
            if !ev.is_null() {
                let ev = Event(ev);
                // SAFETY: `ev` is a live event owned by `Event`.
                let code = unsafe { rd::rd_kafka_event_error(ev.0) };
                if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    // SAFETY: as above; the string lives as long as the event.
                    let message = c_text(unsafe { rd::rd_kafka_event_error_string(ev.0) });
                    return Err(NativeError::Failed {
                        code: code.into(),
                        message,
                    });
                }
                return Ok(ev);
            }
        }
        Err(NativeError::TimedOut(timeout))
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: both pointers came from their constructors and are freed once, here.
        unsafe {
            rd::rd_kafka_AdminOptions_destroy(self.options);
            rd::rd_kafka_queue_destroy(self.queue);
        }
    }
}

/// An owned result event.
struct Event(*mut rd::rd_kafka_event_t);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: the event came from `rd_kafka_queue_poll` and is freed once, here.
        unsafe { rd::rd_kafka_event_destroy(self.0) }
    }
}

/// A C string librdkafka owns, copied (empty for NULL).
fn c_text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: librdkafka returns NUL-terminated strings that live at least as long as
    // the object they came from, which the callers hold.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn restype(r: Resource) -> rd::rd_kafka_ResourceType_t {
    use rd::rd_kafka_ResourceType_t as T;
    match r {
        Resource::Topic => T::RD_KAFKA_RESOURCE_TOPIC,
        Resource::Group => T::RD_KAFKA_RESOURCE_GROUP,
        Resource::TransactionalId => T::RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        Resource::Cluster => T::RD_KAFKA_RESOURCE_BROKER,
    }
}

fn operation(o: Operation) -> rd::rd_kafka_AclOperation_t {
    use rd::rd_kafka_AclOperation_t as O;
    match o {
        Operation::Read => O::RD_KAFKA_ACL_OPERATION_READ,
        Operation::Write => O::RD_KAFKA_ACL_OPERATION_WRITE,
        Operation::Create => O::RD_KAFKA_ACL_OPERATION_CREATE,
        Operation::Describe => O::RD_KAFKA_ACL_OPERATION_DESCRIBE,
        Operation::DescribeConfigs => O::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        Operation::AlterConfigs => O::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
    }
}

fn operation_back(o: rd::rd_kafka_AclOperation_t) -> Option<Operation> {
    use rd::rd_kafka_AclOperation_t as O;
    Some(match o {
        O::RD_KAFKA_ACL_OPERATION_READ => Operation::Read,
        O::RD_KAFKA_ACL_OPERATION_WRITE => Operation::Write,
        O::RD_KAFKA_ACL_OPERATION_CREATE => Operation::Create,
        O::RD_KAFKA_ACL_OPERATION_DESCRIBE => Operation::Describe,
        O::RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS => Operation::DescribeConfigs,
        O::RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS => Operation::AlterConfigs,
        _ => return None,
    })
}

/// Owned ACL bindings, destroyed together.
struct Bindings(Vec<*mut rd::rd_kafka_AclBinding_t>);

impl Drop for Bindings {
    fn drop(&mut self) {
        for b in &self.0 {
            // SAFETY: each came from `rd_kafka_AclBinding_new` and is freed once, here
            // (CreateAcls copies what it needs and does not take ownership).
            unsafe { rd::rd_kafka_AclBinding_destroy(*b) }
        }
    }
}

fn binding(acl: &Acl) -> Result<*mut rd::rd_kafka_AclBinding_t, NativeError> {
    let name = CString::new(acl.name.as_str()).map_err(|_| NativeError::Nul)?;
    let principal = CString::new(acl.principal.as_str()).map_err(|_| NativeError::Nul)?;
    let host = c"*";
    let pattern = match acl.pattern {
        Pattern::Literal => rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        Pattern::Prefixed => rd::rd_kafka_ResourcePatternType_t::RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
    };
    let mut errstr = [0 as c_char; 512];
    // SAFETY: every string is NUL-terminated and outlives the call (librdkafka copies
    // them); `errstr` is writable for the size passed.
    let b = unsafe {
        rd::rd_kafka_AclBinding_new(
            restype(acl.resource),
            name.as_ptr(),
            pattern,
            principal.as_ptr(),
            host.as_ptr(),
            operation(acl.operation),
            rd::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if b.is_null() {
        return Err(NativeError::Invalid(c_text(errstr.as_ptr())));
    }
    Ok(b)
}

/// Creates `acls` (an existing identical ACL is not an error for Kafka); one result per
/// ACL, in order.
pub fn create_acls<C: ClientContext>(
    client: &Client<C>,
    acls: &[Acl],
    timeout: Duration,
) -> Result<Vec<Result<(), String>>, NativeError> {
    let mut owned = Bindings(Vec::with_capacity(acls.len()));
    for acl in acls {
        owned.0.push(binding(acl)?);
    }
    let req = Request::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
    );
    req.set_timeout(timeout)?;
    // SAFETY: the bindings, options and queue are live for the call; librdkafka copies
    // the bindings.
    unsafe {
        rd::rd_kafka_CreateAcls(
            client.native_ptr(),
            owned.0.as_mut_ptr(),
            owned.0.len(),
            req.options,
            req.queue,
        );
    }
    let ev = req.wait(timeout)?;
    // SAFETY: `ev` is a CreateAcls result event (the only request on this queue).
    let result = unsafe { rd::rd_kafka_event_CreateAcls_result(ev.0) };
    if result.is_null() {
        return Err(NativeError::Invalid("not a CreateAcls result".into()));
    }
    let mut n = 0usize;
    // SAFETY: `result` belongs to `ev`; the array has `n` entries.
    let results = unsafe { rd::rd_kafka_CreateAcls_result_acls(result, &mut n) };
    if n != acls.len() {
        return Err(NativeError::Invalid(format!(
            "{n} results for {} ACLs",
            acls.len()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `i < n`, and each entry lives as long as `ev`.
        let err = unsafe { rd::rd_kafka_acl_result_error(*results.add(i)) };
        out.push(error_text(err).map_or(Ok(()), Err));
    }
    Ok(out)
}

/// An `rd_kafka_error_t`'s code and message, `None` for no error.
fn error_text(err: *const rd::rd_kafka_error_t) -> Option<String> {
    if err.is_null() {
        return None;
    }
    // SAFETY: `err` is live (owned by the result it came from).
    let (code, msg) = unsafe { (rd::rd_kafka_error_code(err), rd::rd_kafka_error_string(err)) };
    Some(format!(
        "{:?} ({})",
        RDKafkaErrorCode::from(code),
        c_text(msg)
    ))
}

/// The caller's authorized operations on each of `topics` (in order).
pub fn authorized_operations<C: ClientContext>(
    client: &Client<C>,
    topics: &[&str],
    timeout: Duration,
) -> Result<Vec<TopicOps>, NativeError> {
    let names: Vec<CString> = topics
        .iter()
        .map(|t| CString::new(*t).map_err(|_| NativeError::Nul))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let req = Request::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
    );
    req.set_timeout(timeout)?;
    // SAFETY: `options` is live; the returned error, if any, is ours to free.
    let err =
        unsafe { rd::rd_kafka_AdminOptions_set_include_authorized_operations(req.options, 1) };
    if let Some(why) = error_text(err) {
        // SAFETY: `err` is non-null here and freed once.
        unsafe { rd::rd_kafka_error_destroy(err) };
        return Err(NativeError::Invalid(why));
    }
    // SAFETY: `ptrs` holds NUL-terminated names that outlive the call (copied).
    let collection =
        unsafe { rd::rd_kafka_TopicCollection_of_topic_names(ptrs.as_mut_ptr(), ptrs.len()) };
    // SAFETY: collection, options and queue are live; the collection is freed right
    // after the call, which copies it.
    unsafe {
        rd::rd_kafka_DescribeTopics(client.native_ptr(), collection, req.options, req.queue);
        rd::rd_kafka_TopicCollection_destroy(collection);
    }
    let ev = req.wait(timeout)?;
    // SAFETY: a DescribeTopics result event (the only request on this queue).
    let result = unsafe { rd::rd_kafka_event_DescribeTopics_result(ev.0) };
    if result.is_null() {
        return Err(NativeError::Invalid("not a DescribeTopics result".into()));
    }
    let mut n = 0usize;
    // SAFETY: the array of `n` descriptions belongs to `ev`.
    let descs = unsafe { rd::rd_kafka_DescribeTopics_result_topics(result, &mut n) };
    let mut by_name = std::collections::HashMap::new();
    for i in 0..n {
        // SAFETY: `i < n`; each description and its strings live as long as `ev`.
        let d = unsafe { *descs.add(i) };
        let name = c_text(unsafe { rd::rd_kafka_TopicDescription_name(d) });
        // SAFETY: as above.
        let err = unsafe { rd::rd_kafka_TopicDescription_error(d) };
        let ops = if err.is_null() {
            let mut m = 0usize;
            // SAFETY: as above; the array has `m` entries (NULL and 0 when not asked
            // for or not supported).
            let arr = unsafe { rd::rd_kafka_TopicDescription_authorized_operations(d, &mut m) };
            let ops = (0..m)
                .filter_map(|j| operation_back(unsafe { *arr.add(j) }))
                .collect();
            TopicOps::Allowed(ops)
        } else {
            // SAFETY: `err` is live with `ev`.
            TopicOps::Error(unsafe { rd::rd_kafka_error_code(err) }.into())
        };
        by_name.insert(name, ops);
    }
    Ok(topics
        .iter()
        .map(|t| {
            by_name
                .remove(*t)
                .unwrap_or(TopicOps::Error(RDKafkaErrorCode::UnknownTopicOrPartition))
        })
        .collect())
}
