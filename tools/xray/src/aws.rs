//! The X-Ray API through aws-sdk-xray: reading a deployed stack's traces (GetTraceSummaries and
//! BatchGetTraces, paginated) and forwarding documents (PutTraceSegments), as the daemon does.
//! Credentials, region and endpoint come from aws-config (`AWS_PROFILE`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL_XRAY`, ...).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_sdk_xray::error::DisplayErrorContext;
use aws_sdk_xray::primitives::DateTime;
use aws_sdk_xray::Client;
use serde_json::Value;

/// X-Ray answers GetTraceSummaries for at most 6 hours at a time.
const MAX_WINDOW: Duration = Duration::from_secs(6 * 60 * 60);
/// BatchGetTraces takes at most 5 trace ids per call.
const TRACES_PER_BATCH: usize = 5;

pub async fn client() -> Result<Client, String> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(cruddur_aws_https::https_client())
        .load()
        .await;
    if config.region().is_none() {
        return Err("no AWS region: set AWS_REGION or a profile with a region".into());
    }
    Ok(Client::new(&config))
}

/// The ids of every trace that ended in the last `since`.
pub async fn trace_ids(client: &Client, since: Duration) -> Result<Vec<String>, String> {
    let end = SystemTime::now();
    let mut start = end - since;
    let mut ids = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    while start < end {
        let window_end = (start + MAX_WINDOW).min(end);
        let mut next_token: Option<String> = None;
        loop {
            let page = client
                .get_trace_summaries()
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(window_end))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| format!("GetTraceSummaries failed: {}", DisplayErrorContext(&e)))?;
            for summary in page.trace_summaries() {
                if let Some(id) = summary.id().filter(|id| seen.insert((*id).to_owned())) {
                    ids.push(id.to_owned());
                }
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        start = window_end;
    }
    Ok(ids)
}

/// The segment documents of the given traces. Ids X-Ray does not know are reported on stderr.
pub async fn documents(client: &Client, ids: &[String]) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    for batch in ids.chunks(TRACES_PER_BATCH) {
        let mut next_token: Option<String> = None;
        loop {
            let page = client
                .batch_get_traces()
                .set_trace_ids(Some(batch.to_vec()))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| format!("BatchGetTraces failed: {}", DisplayErrorContext(&e)))?;
            for trace in page.traces() {
                for segment in trace.segments() {
                    let Some(text) = segment.document() else {
                        continue;
                    };
                    match serde_json::from_str(text) {
                        Ok(document) => documents.push(document),
                        Err(err) => eprintln!(
                            "cruddur-xray: skipped an unreadable document in trace {}: {err}",
                            trace.id().unwrap_or("?")
                        ),
                    }
                }
            }
            for id in page.unprocessed_trace_ids() {
                eprintln!("cruddur-xray: X-Ray has no documents for trace {id} (yet)");
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
    }
    Ok(documents)
}

/// The outcome of forwarding one batch.
#[derive(Debug, Default, PartialEq)]
pub struct Forwarded {
    pub accepted: usize,
    /// (segment id, why) for documents X-Ray still refused after every attempt.
    pub refused: Vec<(String, String)>,
}

/// Sends documents with PutTraceSegments. Documents X-Ray reports as unprocessed, and whole
/// batches whose call failed, are retried (`attempts` in all, with a growing pause); what is
/// still refused after that is returned, never silently lost.
pub async fn put_segments(
    client: &Client,
    documents: Vec<(String, String)>,
    attempts: u32,
    first_pause: Duration,
) -> Forwarded {
    let mut outcome = Forwarded::default();
    let mut pending = documents;
    let mut pause = first_pause;
    for attempt in 1..=attempts.max(1) {
        let last = attempt == attempts.max(1);
        let result = client
            .put_trace_segments()
            .set_trace_segment_documents(Some(pending.iter().map(|(_, d)| d.clone()).collect()))
            .send()
            .await;
        match result {
            Ok(output) => {
                let unprocessed = output.unprocessed_trace_segments();
                let mut retry = Vec::new();
                for (id, document) in pending {
                    match unprocessed.iter().find(|u| u.id() == Some(id.as_str())) {
                        Some(refusal) if last => outcome.refused.push((
                            id,
                            format!(
                                "{} {}",
                                refusal.error_code().unwrap_or("unprocessed"),
                                refusal.message().unwrap_or_default()
                            )
                            .trim()
                            .to_owned(),
                        )),
                        Some(_) => retry.push((id, document)),
                        None => outcome.accepted += 1,
                    }
                }
                pending = retry;
            }
            Err(err) if last => {
                let why = DisplayErrorContext(&err).to_string();
                outcome
                    .refused
                    .extend(pending.drain(..).map(|(id, _)| (id, why.clone())));
            }
            Err(_) => {}
        }
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    outcome
}
