//! Where documents are read from: the JSON-lines file `listen --out` writes, or X-Ray itself.
//! Both end as the same documents, so the trees, lists and maps are made by the same code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::document::validate;
use crate::trace::{Trace, TraceSet};

#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Aws { since: Duration },
}

impl Source {
    pub async fn load(&self) -> Result<TraceSet, String> {
        match self {
            Source::File(path) => Ok(read_jsonl(path)?.into_iter().collect()),
            Source::Aws { since } => {
                let client = crate::aws::client().await?;
                let ids = crate::aws::trace_ids(&client, *since).await?;
                Ok(crate::aws::documents(&client, &ids)
                    .await?
                    .into_iter()
                    .collect())
            }
        }
    }

    /// One trace, if the source has it.
    pub async fn load_trace(&self, trace_id: &str) -> Result<Option<Trace>, String> {
        let set = match self {
            Source::File(_) => self.load().await?,
            Source::Aws { .. } => {
                let client = crate::aws::client().await?;
                crate::aws::documents(&client, &[trace_id.to_owned()])
                    .await?
                    .into_iter()
                    .collect()
            }
        };
        Ok(set.get(trace_id))
    }

    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Aws { since } => format!("X-Ray (last {}s)", since.as_secs()),
        }
    }
}

/// Reads documents, one per line. Lines that are not valid documents are reported and skipped;
/// an unterminated last line is a document still being written, and is left for the next read.
pub fn read_jsonl(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {}: {e} (write one with `cruddur-xray listen --out {}`; scripts/dev does)",
            path.display(),
            path.display()
        )
    })?;
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut documents = Vec::new();
    for (number, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let checked = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|doc| validate(&doc).map(|_| doc).map_err(|r| r.0));
        match checked {
            Ok(document) => documents.push(document),
            Err(why) => eprintln!(
                "cruddur-xray: skipped {} line {}: {why}",
                path.display(),
                number + 1
            ),
        }
    }
    Ok(documents)
}

/// `90s`, `15m`, `2h`, `1d` (a bare number is minutes).
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("--since {text:?}: expected a number and a unit, like 15m"))?;
    let seconds = match unit {
        "s" => 1,
        "m" | "" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("--since {text:?}: the unit must be s, m, h or d")),
    };
    if number == 0 {
        return Err("--since must be more than zero".into());
    }
    Ok(Duration::from_secs(number * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unterminated_last_line_is_left_for_later() {
        let dir = std::env::temp_dir().join(format!("cruddur-xray-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("half.jsonl");
        let doc = serde_json::json!({
            "name": "f", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.0, "end_time": 2.0
        })
        .to_string();
        std::fs::write(&path, format!("{doc}\n{}", &doc[..20])).unwrap();
        assert_eq!(read_jsonl(&path).unwrap().len(), 1);
        std::fs::write(&path, format!("{doc}\n{doc}\n")).unwrap();
        assert_eq!(read_jsonl(&path).unwrap().len(), 2);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn reads_durations() {
        assert_eq!(parse_since("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_since("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_since("5"), Ok(Duration::from_secs(300)));
        assert!(parse_since("m").is_err());
        assert!(parse_since("10y").unwrap_err().contains("unit"));
        assert!(parse_since("0m").is_err());
    }
}
