//! What an I/O failure of a connection is called in the failures table, and its category: the one wording the
//! client (connect, send, receive) and the TLS handshake ([`super::tls`]) share. It sits below both, so neither
//! needs the other to name a failure.

use std::io;

use crate::metrics::FailureKind;

/// Running out of descriptors: `EMFILE` (this process's limit) and `ENFILE` (the system's), numbered alike on
/// Linux, the BSDs and macOS.
fn descriptors_exhausted(e: &io::Error) -> Option<&'static str> {
    if !cfg!(unix) {
        return None;
    }
    match e.raw_os_error()? {
        24 => Some(
            "too many open files (loadgen's descriptor limit: raise `ulimit -n` or run fewer users)",
        ),
        23 => Some("too many open files in the system (the kernel's file table is full)"),
        _ => None,
    }
}

/// Names an I/O failure by its kind. Running out of descriptors or local ports is [`FailureKind::Resources`]:
/// a limit of loadgen's machine, which says nothing about the target, so it is told apart from a refused
/// connection.
pub(crate) fn describe_io(e: &io::Error, default: FailureKind) -> (FailureKind, String) {
    use io::ErrorKind::*;
    if let Some(msg) = descriptors_exhausted(e) {
        return (FailureKind::Resources, msg.to_string());
    }
    let (kind, msg) = match e.kind() {
        ConnectionRefused => (FailureKind::Connect, "connection refused"),
        ConnectionReset => (FailureKind::Connection, "connection reset by peer"),
        ConnectionAborted => (FailureKind::Connection, "connection aborted"),
        BrokenPipe => (FailureKind::Connection, "broken pipe"),
        UnexpectedEof => (
            FailureKind::Connection,
            "connection closed before the response completed",
        ),
        TimedOut => (FailureKind::Timeout, "request timed out"),
        AddrNotAvailable => (
            FailureKind::Resources,
            "no free local port (the ephemeral ports are used up, e.g. by connections in TIME_WAIT)",
        ),
        OutOfMemory => (FailureKind::Resources, "out of memory"),
        AddrInUse => (FailureKind::Connect, "local address in use"),
        HostUnreachable | NetworkUnreachable => (FailureKind::Connect, "host unreachable"),
        NotFound => (FailureKind::Connect, "the host name does not resolve"),
        _ => return (default, e.to_string()),
    };
    (kind, msg.to_string())
}
