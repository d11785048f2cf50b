//! A trace printed as an indented tree, one line per segment or subsegment:
//!
//! ```text
//! trace 1-581cf771-a006649127e371903a2de979  62.0 ms  4 documents  FAULT
//! └─ home-activities [AWS::Lambda::Function]  55.0 ms  GET /api/activities/home -> 500  FAULT  {ColdStart=true}
//!    └─ DynamoDB (aws)  10.0 ms  Query cruddur
//! ```

use serde_json::Value;

use crate::trace::{Root, Span, Trace};

pub fn render(trace: &Trace) -> String {
    let mut out = header(trace);
    out.push('\n');
    let count = trace.roots.len();
    for (i, root) in trace.roots.iter().enumerate() {
        let last = i + 1 == count;
        match root {
            Root::Span(span) => write_span(&mut out, span, "", last),
            Root::MissingParent {
                parent_id,
                children,
            } => {
                out.push_str(&format!(
                    "{}? {parent_id} (parent not received)\n",
                    branch(last)
                ));
                let prefix = continuation("", last);
                for (j, child) in children.iter().enumerate() {
                    write_span(&mut out, child, &prefix, j + 1 == children.len());
                }
            }
        }
    }
    out
}

fn header(trace: &Trace) -> String {
    let mut parts = vec![format!("trace {}", trace.id), duration(trace.duration_ms())];
    parts.push(crate::map_render::plural(trace.documents.len(), "document"));
    if !trace.is_complete() {
        parts.push("partial".into());
    }
    parts.extend(flags(
        trace.has(|s| s.error),
        trace.has(|s| s.fault),
        trace.has(|s| s.throttle),
    ));
    parts.join("  ")
}

fn branch(last: bool) -> &'static str {
    if last {
        "└─ "
    } else {
        "├─ "
    }
}

fn continuation(prefix: &str, last: bool) -> String {
    format!("{prefix}{}", if last { "   " } else { "│  " })
}

fn write_span(out: &mut String, span: &Span, prefix: &str, last: bool) {
    out.push_str(prefix);
    out.push_str(branch(last));
    out.push_str(&describe(span));
    out.push('\n');
    let next = continuation(prefix, last);
    for (i, child) in span.children.iter().enumerate() {
        write_span(out, child, &next, i + 1 == span.children.len());
    }
}

/// One line: name, kind, duration, what it did, flags, annotations.
pub fn describe(span: &Span) -> String {
    let mut name = span.name.clone();
    match (&span.origin, &span.namespace) {
        (Some(origin), _) if span.is_segment => name.push_str(&format!(" [{origin}]")),
        (_, Some(namespace)) => name.push_str(&format!(" ({namespace})")),
        _ => {}
    }
    let mut parts = vec![name, duration(span.duration_ms())];
    if let Some(operation) = &span.aws_operation {
        let table = span.aws_table.as_deref().map(|t| format!(" {t}"));
        parts.push(format!("{operation}{}", table.unwrap_or_default()));
    }
    if let Some(request) = http_summary(span) {
        parts.push(request);
    }
    parts.extend(flags(span.error, span.fault, span.throttle));
    if !span.annotations.is_empty() {
        let pairs: Vec<String> = span
            .annotations
            .iter()
            .map(|(k, v)| format!("{k}={}", annotation_value(v)))
            .collect();
        parts.push(format!("{{{}}}", pairs.join(", ")));
    }
    parts.join("  ")
}

fn http_summary(span: &Span) -> Option<String> {
    let request = match (&span.http_method, &span.http_url) {
        (Some(method), Some(url)) => Some(format!("{method} {url}")),
        (Some(method), None) => Some(method.clone()),
        (None, Some(url)) => Some(url.clone()),
        (None, None) => None,
    };
    match (request, span.http_status) {
        (Some(request), Some(status)) => Some(format!("{request} -> {status}")),
        (Some(request), None) => Some(request),
        (None, Some(status)) => Some(format!("-> {status}")),
        (None, None) => None,
    }
}

pub fn annotation_value(value: &Value) -> String {
    value.to_string()
}

pub fn duration(ms: Option<f64>) -> String {
    match ms {
        Some(ms) => format!("{ms:.1} ms"),
        None => "in progress".to_owned(),
    }
}

pub fn flags(error: bool, fault: bool, throttle: bool) -> Vec<String> {
    [(error, "ERROR"), (fault, "FAULT"), (throttle, "THROTTLE")]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, label)| label.to_owned())
        .collect()
}

/// One line per trace, for `traces`: id, start, duration, where it entered, what it answered,
/// flags and annotations.
pub fn summary_line(trace: &Trace) -> String {
    let start = chrono::DateTime::from_timestamp_millis((trace.start() * 1000.0).round() as i64)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| "-".to_owned());
    let mut parts = vec![trace.id.clone(), start, duration(trace.duration_ms())];
    match trace.entry() {
        Some(entry) => {
            parts.push(entry.name.clone());
            parts.extend(http_summary(entry));
        }
        None => parts.push("(empty)".to_owned()),
    }
    parts.extend(flags(
        trace.has(|s| s.error),
        trace.has(|s| s.fault),
        trace.has(|s| s.throttle),
    ));
    let mut annotations: Vec<String> = trace
        .annotations()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", annotation_value(v)))
        .collect();
    annotations.sort();
    annotations.dedup();
    if !annotations.is_empty() {
        parts.push(format!("{{{}}}", annotations.join(", ")));
    }
    parts.join("  ")
}
