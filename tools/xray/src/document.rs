//! Segment documents as the X-Ray daemon receives them: the UDP datagram framing and the
//! validation X-Ray applies before it accepts a document.
//!
//! A datagram is a JSON header line, `{"format": "json", "version": 1}`, a newline, and one
//! segment document (a segment, or a subsegment sent on its own with `type: "subsegment"`).

use serde_json::Value;

/// The largest datagram the daemon reads (and the largest document X-Ray accepts).
pub const MAX_DATAGRAM_BYTES: usize = 64 * 1024;

/// Why a datagram or document was not accepted. The message is meant for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn reject<T>(message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection(message.into()))
}

/// Unframes and validates one datagram; returns the document.
pub fn parse_datagram(datagram: &[u8]) -> Result<Value, Rejection> {
    if datagram.len() > MAX_DATAGRAM_BYTES {
        return reject(format!(
            "datagram of {} bytes is over the daemon's {MAX_DATAGRAM_BYTES}-byte limit",
            datagram.len()
        ));
    }
    let Some(newline) = datagram.iter().position(|&b| b == b'\n') else {
        return reject(
            "no header line (expected {\"format\": \"json\", \"version\": 1} and a newline)",
        );
    };
    let header: Value = serde_json::from_slice(&datagram[..newline])
        .map_err(|_| Rejection("the header line is not JSON".into()))?;
    if header["format"] != "json" || header["version"] != 1 {
        return reject(format!(
            "unsupported header {header} (expected {{\"format\": \"json\", \"version\": 1}})"
        ));
    }
    let document: Value = serde_json::from_slice(&datagram[newline + 1..])
        .map_err(|err| Rejection(format!("the document is not valid JSON: {err}")))?;
    validate(&document)?;
    Ok(document)
}

/// Checks a top-level document: a segment, or an independent subsegment.
pub fn validate(document: &Value) -> Result<(), Rejection> {
    if !document.is_object() {
        return reject("the document is not a JSON object");
    }
    let independent = is_independent_subsegment(document);
    if document.get("type").is_some() && !independent {
        return reject(format!(
            "unknown document type {} (only \"subsegment\" is allowed)",
            document["type"]
        ));
    }
    let trace_id = required_str(document, "trace_id")?;
    if !is_trace_id(trace_id) {
        return reject(format!(
            "trace_id {trace_id:?} is not in X-Ray form (1-8 hex digits-24 hex digits)"
        ));
    }
    match document.get("parent_id") {
        None if independent => return reject("a subsegment sent on its own needs parent_id"),
        None => {}
        Some(Value::String(parent)) if is_id(parent) => {}
        Some(other) => return reject(format!("parent_id {other} is not 16 hex digits")),
    }
    validate_part(document, "")
}

/// The fields every segment and subsegment must have, checked down the tree.
fn validate_part(part: &Value, path: &str) -> Result<(), Rejection> {
    let here = |message: String| {
        if path.is_empty() {
            Rejection(message)
        } else {
            Rejection(format!("{path}: {message}"))
        }
    };
    let name = required_str(part, "name").map_err(|r| here(r.0))?;
    if name.is_empty() || name.chars().count() > 200 {
        return Err(here(format!("name {name:?} must have 1 to 200 characters")));
    }
    let id = required_str(part, "id").map_err(|r| here(r.0))?;
    if !is_id(id) {
        return Err(here(format!("id {id:?} is not 16 hex digits")));
    }
    let start = part.get("start_time").and_then(Value::as_f64);
    let Some(start) = start else {
        return Err(here(
            "start_time (epoch seconds) is missing or not a number".into(),
        ));
    };
    let in_progress = match part.get("in_progress") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(here(format!("in_progress {other} is not a boolean"))),
    };
    match part.get("end_time") {
        Some(end) => match end.as_f64() {
            Some(end) if end >= start => {}
            Some(_) => return Err(here("end_time is before start_time".into())),
            None => return Err(here("end_time is not a number".into())),
        },
        None if in_progress => {}
        None => return Err(here("needs end_time, or in_progress: true".into())),
    }
    for flag in ["error", "fault", "throttle"] {
        if let Some(value) = part.get(flag) {
            if !value.is_boolean() {
                return Err(here(format!("{flag} {value} is not a boolean")));
            }
        }
    }
    match part.get("subsegments") {
        None => Ok(()),
        Some(Value::Array(children)) => children.iter().enumerate().try_for_each(|(i, child)| {
            let child_path = if path.is_empty() {
                format!("subsegments[{i}]")
            } else {
                format!("{path}.subsegments[{i}]")
            };
            validate_part(child, &child_path)
        }),
        Some(_) => Err(here("subsegments is not an array".into())),
    }
}

fn required_str<'a>(document: &'a Value, field: &str) -> Result<&'a str, Rejection> {
    match document.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => reject(format!("{field} {other} is not a string")),
        None => reject(format!("{field} is missing")),
    }
}

pub fn is_independent_subsegment(document: &Value) -> bool {
    document.get("type").and_then(Value::as_str) == Some("subsegment")
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A segment or subsegment id: 16 hex digits.
pub fn is_id(s: &str) -> bool {
    is_hex(s, 16)
}

/// An X-Ray trace id: `1-` + 8 hex digits (epoch seconds) + `-` + 24 hex digits.
pub fn is_trace_id(s: &str) -> bool {
    let mut parts = s.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(time), Some(random), None) if is_hex(time, 8) && is_hex(random, 24)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn datagram(document: &Value) -> Vec<u8> {
        format!("{{\"format\": \"json\", \"version\": 1}}\n{document}").into_bytes()
    }

    fn segment() -> Value {
        json!({"name": "svc", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
               "start_time": 1.5, "end_time": 2.0})
    }

    /// A datagram of the valid segment with one thing changed.
    fn segment_where(change: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut document = segment();
        change(&mut document);
        datagram(&document)
    }

    #[test]
    fn accepts_a_segment_and_an_independent_subsegment() {
        assert!(parse_datagram(&datagram(&segment())).is_ok());
        let mut sub = segment();
        sub["type"] = json!("subsegment");
        sub["parent_id"] = json!("70de5b6f19ff9a0b");
        assert!(parse_datagram(&datagram(&sub)).is_ok());
        let mut open = segment();
        open.as_object_mut().unwrap().remove("end_time");
        open["in_progress"] = json!(true);
        assert!(parse_datagram(&datagram(&open)).is_ok());
    }

    #[test]
    fn explains_what_is_wrong() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{\"name\":1}".to_vec(), "no header line"),
            (
                b"{\"format\": \"xml\", \"version\": 1}\n{}".to_vec(),
                "unsupported header",
            ),
            (
                b"{\"format\": \"json\", \"version\": 1}\n{\"name\":".to_vec(),
                "not valid JSON",
            ),
            (
                datagram(&json!({"id": "70de5b6f19ff9a0a"})),
                "trace_id is missing",
            ),
            (
                segment_where(|d| {
                    d["trace_id"] = json!("1-xyz");
                }),
                "not in X-Ray form",
            ),
            (
                segment_where(|d| {
                    d["id"] = json!("123");
                }),
                "id \"123\" is not 16 hex digits",
            ),
            (
                segment_where(|d| {
                    d.as_object_mut().unwrap().remove("end_time");
                }),
                "needs end_time",
            ),
            (
                segment_where(|d| {
                    d["type"] = json!("subsegment");
                }),
                "needs parent_id",
            ),
            (
                segment_where(|d| {
                    d["subsegments"] = json!([{"name": "x", "id": "zz"}]);
                }),
                "subsegments[0]: id \"zz\"",
            ),
            (
                segment_where(|d| {
                    d["end_time"] = json!(1.0);
                }),
                "end_time is before start_time",
            ),
            (
                vec![b' '; MAX_DATAGRAM_BYTES + 1],
                "over the daemon's 65536-byte limit",
            ),
        ];
        for (bytes, expected) in cases {
            let err = parse_datagram(&bytes).expect_err(expected);
            assert!(
                err.0.contains(expected),
                "{err} should mention {expected:?}"
            );
        }
    }
}
