//! Figures from the runs, and BENCHMARKS.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::{ConcurrentRun, Run};
use crate::variants::{DEPLOYED, GATHERED, HELLO, OTLP_HUNG, OTLP_REFUSING};

/// Nearest-rank percentile.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One variant's figures over all its runs.
#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub binary_bytes: Option<u64>,
    pub init_p50: Duration,
    pub init_min: Duration,
    pub init_max: Duration,
    pub first_p50: Duration,
    pub warm_p50: Duration,
    pub warm_p90: Duration,
    pub warm_p99: Duration,
    pub after_response_p50: Duration,
    pub after_response_p99: Duration,
    /// The after-response time of a start's first 60 invocations, added up (median over starts).
    pub after_response_first_60: Duration,
    pub peak_rss_mib: f64,
}

impl Summary {
    pub fn of(name: &str, binary_bytes: Option<u64>, runs: &[Run]) -> Self {
        let inits: Vec<Duration> = runs
            .iter()
            .flat_map(|r| std::iter::once(r.init).chain(r.more_inits.iter().copied()))
            .collect();
        let firsts: Vec<Duration> = runs.iter().map(|r| r.first).collect();
        let warm: Vec<Duration> = runs.iter().flat_map(|r| r.warm.clone()).collect();
        let after: Vec<Duration> = runs.iter().flat_map(|r| r.after_response.clone()).collect();
        let mut first_60: Vec<Duration> = runs
            .iter()
            .map(|r| r.after_response.iter().take(60).sum())
            .collect();
        first_60.sort();
        let mut rss: Vec<u64> = runs.iter().map(|r| r.peak_rss_kib).collect();
        rss.sort();
        Self {
            name: name.to_owned(),
            binary_bytes,
            init_p50: percentile(&inits, 50.0),
            init_min: inits.iter().min().copied().unwrap_or_default(),
            init_max: inits.iter().max().copied().unwrap_or_default(),
            first_p50: percentile(&firsts, 50.0),
            warm_p50: percentile(&warm, 50.0),
            warm_p90: percentile(&warm, 90.0),
            warm_p99: percentile(&warm, 99.0),
            after_response_p50: percentile(&after, 50.0),
            after_response_p99: percentile(&after, 99.0),
            after_response_first_60: first_60
                .get(first_60.len() / 2)
                .copied()
                .unwrap_or_default(),
            peak_rss_mib: rss.get(rss.len() / 2).copied().unwrap_or_default() as f64 / 1024.0,
        }
    }
}

/// One level of concurrency's figures over its runs.
#[derive(Debug, Clone)]
pub struct Concurrency {
    pub in_flight: usize,
    /// Invocations answered per second (median over runs).
    pub throughput: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl Concurrency {
    pub fn of(in_flight: usize, runs: &[ConcurrentRun]) -> Self {
        let latencies: Vec<Duration> = runs.iter().flat_map(|r| r.latencies.clone()).collect();
        let mut throughputs: Vec<f64> = runs
            .iter()
            .map(|r| r.latencies.len() as f64 / r.elapsed.as_secs_f64().max(1e-9))
            .collect();
        throughputs.sort_by(f64::total_cmp);
        Self {
            in_flight,
            throughput: throughputs
                .get(throughputs.len() / 2)
                .copied()
                .unwrap_or_default(),
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
        }
    }
}

/// Invocations in flight at once in one process (Lambda Managed Instances,
/// `AWS_LAMBDA_MAX_CONCURRENCY`), beside the sequential figures.
fn concurrency(levels: &[Concurrency], sequential: Option<&Summary>) -> String {
    if levels.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Concurrent invocations (Lambda Managed Instances)\n\n\
         home-activities as deployed (DynamoDB over TLS, telemetry on) with \
         `AWS_LAMBDA_MAX_CONCURRENCY` set to the number in flight: the emulator keeps that many \
         events outstanding, back to back, and the function polls for them concurrently on its one \
         thread. Latency = event handed out -> response posted. DynamoDB Local (one JVM) runs on \
         the same cores: where throughput stops growing, that is the store's limit on this \
         machine, not the function's.\n\n\
         | in flight | throughput /s | p50 ms | p99 ms |\n|---:|---:|---:|---:|\n",
    );
    if let Some(s) = sequential {
        let _ = writeln!(
            out,
            "| sequential rows above (one at a time, 20 ms apart) | - | {} | {} |",
            ms(s.warm_p50),
            ms(s.warm_p99)
        );
    }
    for level in levels {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} |",
            level.in_flight,
            level.throughput,
            ms(level.p50),
            ms(level.p99)
        );
    }
    out
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.1}")
    }
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "-".into();
    }
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
}

pub struct Context {
    pub date: String,
    pub command: String,
    pub machine: Vec<String>,
    pub rounds: usize,
    /// Further starts per variant and round that only measure init.
    pub init_starts: usize,
    pub invocations: usize,
    pub pause: Duration,
    pub otlp_requests: usize,
    pub xray_documents: usize,
}

/// The figures a comparison needs, by variant name.
pub struct Named<'a>(pub &'a [Summary]);

impl Named<'_> {
    fn get(&self, name: &str) -> Option<&Summary> {
        self.0.iter().find(|s| s.name == name)
    }
}

pub fn markdown(context: &Context, summaries: &[Summary], concurrent: &[Concurrency]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `{}` on {}. Do not edit by hand: run the command again.\n",
        context.command, context.date
    );
    let _ = writeln!(out, "Machine: {}.\n", context.machine.join("; "));
    let _ = writeln!(
        out,
        "Method: a Lambda Runtime API emulator on loopback (`bench/harness`, on the testkit's emulator) \
         starts each variant's process, {} times per variant, interleaved round by round so machine \
         noise hits every variant alike, and hands it {} API Gateway events one after another. \
         **init** = exec -> first `next` poll (median, min-max over {} starts: each round's, and {} more \
         per round that are stopped at their first poll, as init varies most from start to start); **first** = the cold \
         invocation; **warm** = event handed out -> response posted, over the other {} invocations of \
         every start, each handed out {} ms after the function asked for it (the same idle time for \
         every variant: events back to back would favour the functions that ask again at once over \
         those that export first); **after response** = response posted -> next poll (telemetry export, billed by \
         Lambda, waited for by no caller); **peak RSS** = VmHWM at the end (median); **binary** = \
         `bootstrap` as `cargo lambda build --release` makes it for this machine's architecture. \
         Telemetry on: spans to a UDP X-Ray collector ({} documents received) and to an OTLP sink \
         that answers after 50 ms ({} export requests received), Rollbar on (a local sink; only errors are \
         reported). Telemetry off: `OTEL_SDK_DISABLED=true`, no Rollbar token (JSON logs stay on). \
         **DynamoDB over TLS** is the deployed configuration: the DynamoDB store on DynamoDB Local \
         behind a loopback TLS terminator whose self-signed certificate the SDK trusts through \
         `SSL_CERT_FILE`, static credentials in the environment as Lambda provides them, the \
         Rollbar token and Honeycomb key read from SSM Parameter Store (moto) in the background, \
         telemetry on; its first invocation includes the TLS handshake. \
         Every answer is checked (200) or the run fails.\n",
        context.rounds,
        context.invocations,
        context.rounds * (1 + context.init_starts),
        context.init_starts,
        context.invocations.saturating_sub(1),
        context.pause.as_millis(),
        context.xray_documents,
        context.otlp_requests,
    );
    let _ = writeln!(
        out,
        "| variant | binary | init ms (min-max) | first ms | warm p50 ms | p90 | p99 | after response p50 ms | peak RSS MiB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in summaries {
        let binary = s
            .binary_bytes
            .map(|b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} ({}-{}) | {} | {} | {} | {} | {} | {:.1} |",
            s.name,
            binary,
            ms(s.init_p50),
            ms(s.init_min),
            ms(s.init_max),
            ms(s.first_p50),
            ms(s.warm_p50),
            ms(s.warm_p90),
            ms(s.warm_p99),
            ms(s.after_response_p50),
            s.peak_rss_mib
        );
    }
    out.push_str(&comparisons(&Named(summaries)));
    out.push_str(&failing_backends(&Named(summaries)));
    out.push_str(&gathered_code(&Named(summaries)));
    out.push_str(&concurrency(
        concurrent,
        Named(summaries).get(&format!("home-activities, {DEPLOYED}")),
    ));
    out.push_str(NOTES);
    out
}

fn comparisons(named: &Named) -> String {
    let mut out = String::from("\n## Ratios\n\n| comparison | init | warm p50 | warm p99 | peak RSS |\n|---|---:|---:|---:|---:|\n");
    let mut row = |label: &str, a: &Summary, b: &Summary| {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {:.2}x |",
            ratio(a.init_p50, b.init_p50),
            ratio(a.warm_p50, b.warm_p50),
            ratio(a.warm_p99, b.warm_p99),
            a.peak_rss_mib / b.peak_rss_mib.max(0.001)
        );
    };
    let hello = named.get(HELLO);
    for endpoint in ["home-activities", "create-activity"] {
        let traced = named.get(&format!("{endpoint}, telemetry on"));
        let deployed = named.get(&format!("{endpoint}, {DEPLOYED}"));
        if let (Some(d), Some(h)) = (deployed, hello) {
            row(
                &format!("{endpoint}: DynamoDB over TLS vs bare hello"),
                d,
                h,
            );
        }
        if let (Some(d), Some(t)) = (deployed, traced) {
            row(&format!("{endpoint}: DynamoDB over TLS vs SQLite"), d, t);
        }
        let untraced = named.get(&format!("{endpoint}, telemetry off"));
        let python = named.get(&format!("{endpoint}, Python stack"));
        if let (Some(t), Some(h)) = (traced, hello) {
            row(&format!("{endpoint}: traced vs bare hello"), t, h);
        }
        if let (Some(t), Some(u)) = (traced, untraced) {
            row(&format!("{endpoint}: traced vs untraced"), t, u);
        }
        if let (Some(p), Some(t)) = (python, traced) {
            row(&format!("{endpoint}: Python stack vs Rust traced"), p, t);
        }
    }

    out.push_str("\n## Targets\n\n");
    for endpoint in ["home-activities", "create-activity"] {
        let (Some(t), Some(u)) = (
            named.get(&format!("{endpoint}, telemetry on")),
            named.get(&format!("{endpoint}, telemetry off")),
        ) else {
            continue;
        };
        let verdict = |met: bool| if met { "met" } else { "**not met**" };
        if let Some(h) = hello {
            let r = t.init_p50.as_secs_f64() / h.init_p50.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "- {endpoint}: init of the traced function within 1.5x of the bare hello: {r:.2}x, {}.{}",
                verdict(r <= 1.5),
                if r <= 1.5 { "" } else {
                    " Why: the function's binary (AWS SDK, SQLite, rustls, the telemetry pipeline) is several times the hello's for the loader to map, and init builds the telemetry pipeline (tracer provider, resource, subscriber); the hello does none of that."
                }
            );
        }
        let overhead = t.warm_p50.as_secs_f64() * 1000.0 - u.warm_p50.as_secs_f64() * 1000.0;
        let _ = writeln!(
            out,
            "- {endpoint}: warm p50 overhead of full telemetry under 0.3 ms: {overhead:.3} ms, {}.{}",
            verdict(overhead < 0.3),
            if overhead < 0.3 { "" } else {
                " Why: every span of the request (invocation, handler, one per store call) is built on the request thread by tracing-opentelemetry and the OpenTelemetry SDK (ids, attributes, events, the X-Ray and OTLP views); only the export waits until after the response."
            }
        );
        let _ = writeln!(
            out,
            "- {endpoint}: no latency from the slow (50 ms) OTLP sink: warm p99 {} ms with telemetry on; the export happens after the response ({} ms after-response p50), {}.",
            ms(t.warm_p99),
            ms(t.after_response_p50),
            verdict(t.warm_p99 < Duration::from_millis(50))
        );
        if let Some(p) = named.get(&format!("{endpoint}, Python stack")) {
            let r = p.init_p50.as_secs_f64() / t.init_p50.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "- {endpoint}: Rust init at least 20x faster than the Python stack: {r:.1}x, {}.",
                verdict(r >= 20.0)
            );
            let r = p.peak_rss_mib / t.peak_rss_mib.max(0.001);
            let _ = writeln!(
                out,
                "- {endpoint}: peak RSS at least 5x below the Python stack's: {r:.1}x, {}.",
                verdict(r >= 5.0)
            );
        }
        if let (Some(d), Some(h)) = (named.get(&format!("{endpoint}, {DEPLOYED}")), hello) {
            let r = d.init_p50.as_secs_f64() / h.init_p50.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "- {endpoint}: init with the DynamoDB store over TLS within 1.5x of the bare hello: {r:.2}x, {}.",
                verdict(r <= 1.5)
            );
        }
        let rss = [Some(t), named.get(&format!("{endpoint}, {DEPLOYED}"))]
            .into_iter()
            .flatten()
            .map(|s| s.peak_rss_mib)
            .fold(0.0f64, f64::max);
        let _ = writeln!(
            out,
            "- {endpoint}: peak RSS of the traced function at most 8 MiB on either store: {rss:.1} MiB, {}.",
            verdict(rss <= 8.0)
        );
        if let Some(bytes) = t.binary_bytes {
            let mib = bytes as f64 / (1024.0 * 1024.0);
            let _ = writeln!(
                out,
                "- {endpoint}: bootstrap at most 8 MiB: {mib:.1} MiB, {}.",
                verdict(mib <= 8.0)
            );
        }
    }
    out
}

/// The after-response cost of an OTLP endpoint that hangs or refuses, beside the healthy (50 ms)
/// one: a failing backend must be paid for once, not on every invocation.
fn failing_backends(named: &Named) -> String {
    let endpoint = "home-activities";
    let healthy = named.get(&format!("{endpoint}, telemetry on"));
    let failing: Vec<&Summary> = [OTLP_HUNG, OTLP_REFUSING]
        .iter()
        .filter_map(|backend| named.get(&format!("{endpoint}, telemetry on, {backend}")))
        .collect();
    if failing.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Failing backends\n\nAfter-response time (response posted -> next poll) with the OTLP \
         endpoint failing, beside the healthy sink's (which answers after 50 ms). The first failure \
         is waited for up to `OTEL_BSP_EXPORT_TIMEOUT` (1 s), then the breaker holds the spans and \
         probes with backoff (50 ms at most per probe).\n\n\
         | variant | after response p50 ms | p99 ms | first 60 invocations, sum ms |\n|---|---:|---:|---:|\n",
    );
    for s in healthy.into_iter().chain(failing.iter().copied()) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            s.name,
            ms(s.after_response_p50),
            ms(s.after_response_p99),
            ms(s.after_response_first_60)
        );
    }
    out.push('\n');
    for s in failing {
        let met = s.after_response_p50 <= Duration::from_millis(20)
            && s.after_response_first_60 <= Duration::from_secs(3);
        let _ = writeln!(
            out,
            "- {}: after-response median at most 20 ms ({} ms) and at most 3 s over the first 60 invocations ({} ms), {}.",
            s.name,
            ms(s.after_response_p50),
            ms(s.after_response_first_60),
            if met { "met" } else { "**not met**" }
        );
    }
    out
}

/// What the opt-in gathered-code link (`shared/link/hot-code.ld`) buys over the default build, in
/// the same run: it would earn a place in the default build at 10% of init or of the first
/// invocation.
fn gathered_code(named: &Named) -> String {
    let pairs: Vec<(&Summary, &Summary)> = ["telemetry on", DEPLOYED]
        .iter()
        .filter_map(|name| {
            let plain = named.get(&format!("home-activities, {name}"))?;
            let gathered = named.get(&format!("home-activities, {name}, {GATHERED}"))?;
            Some((plain, gathered))
        })
        .collect();
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Gathered-code link (opt-in)\n\nThe default build beside the same function linked \
         with `shared/link/hot-code.ld`, which gathers the code these requests run at the front of \
         the bootstrap's code (`docs/local-tools.md` says how to build with it). Saved = (default - \
         gathered) / default; first = the median of one cold invocation per round.\n\n\
         | variant | init ms, default / gathered | saved | first ms, default / gathered | saved | peak RSS MiB, default / gathered |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    let saved = |plain: Duration, gathered: Duration| {
        (plain.as_secs_f64() - gathered.as_secs_f64()) / plain.as_secs_f64().max(1e-9) * 100.0
    };
    let mut best: f64 = f64::MIN;
    for (plain, gathered) in &pairs {
        let init = saved(plain.init_p50, gathered.init_p50);
        let first = saved(plain.first_p50, gathered.first_p50);
        best = best.max(init).max(first);
        let _ = writeln!(
            out,
            "| {} | {} / {} | {init:.1}% | {} / {} | {first:.1}% | {:.1} / {:.1} |",
            plain.name,
            ms(plain.init_p50),
            ms(gathered.init_p50),
            ms(plain.first_p50),
            ms(gathered.first_p50),
            plain.peak_rss_mib,
            gathered.peak_rss_mib
        );
    }
    let _ = writeln!(
        out,
        "\n- It saves at least 10% of init or of the first invocation, the first bar for the default \
         build: up to {best:.1}%, {}.\n- It can be kept correct without profiling tools: not met. The list is made \
         by profiling the benchmark under valgrind and perf, and no check short of that (or of an \
         LTO build measured for resident code) finds hot code missing from it. So it stays opt-in \
         whatever the figures above.",
        if best >= 10.0 { "met" } else { "not met" }
    );
    out
}

const NOTES: &str = "
## What the numbers mean on Lambda

- **Init is billed** on the managed runtimes since August 2025 and always was on `provided.al2023`:
  the init column is money as well as the first caller's wait. Lambda adds its own sandbox start
  (not measured here) in front of it; that part is the same for every variant.
- **After response**: the traced functions export spans after posting the response and before
  asking for the next event, so callers never wait for Honeycomb or the X-Ray daemon; Lambda still
  bills that time. With the 50 ms sink that is about 50 ms per invocation; a real OTLP endpoint
  answers in a few milliseconds from inside AWS. The Python stack flushes inside the handler (as the
  OpenTelemetry Lambda wrapper does, or spans are lost when Lambda freezes the sandbox), so its
  callers wait for the sink: compare its warm latency with the background-export row.
- **Memory**: Lambda bills the configured memory, not the RSS; the RSS says how small a function can
  be configured (128 MB is the minimum) and how much headroom is left. Most of a Rust function's
  RSS is file-backed: the pages of its own bootstrap and of libc that it touches. The kernel maps
  code around each fault in 64 KiB windows, so a request's code spread over the bootstrap makes
  much of it resident; the opt-in gathered-code link (above) puts it together. Its heap is a
  megabyte or two. The Python stack's is almost all heap.
- **DynamoDB over TLS** runs on DynamoDB Local, a Java process on the same two cores, which answers
  each request in about a millisecond of its own work: its rows measure the client's cost (TLS,
  signing, the SDK) plus that. The home feed fans out to the 32 feed shards, 8 queries in flight
  at a time, so its first invocation opens 8 TLS connections and each page costs 32 small
  queries; against DynamoDB in the same region each query takes a few milliseconds and they
  overlap 8 at a time.
- **Binary size**: the zip is what Lambda downloads on a cold start. These are x86-64 builds, the
  machine's architecture (the arm64 standard library is not installed here); the template deploys
  arm64 (Graviton) by default, whose binaries differ somewhat in size and whose price per GB-second
  is 20% lower.
- One machine, loopback, no network latency: absolute figures are the process's own cost; the
  ratios carry over, the milliseconds of the network do not.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn run(init: u64, warm: &[u64], rss: u64) -> Run {
        Run {
            init: ms(init),
            first: ms(init),
            more_inits: Vec::new(),
            warm: warm.iter().map(|&n| ms(n)).collect(),
            after_response: vec![ms(1)],
            peak_rss_kib: rss,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&samples, 50.0), ms(50));
        assert_eq!(percentile(&samples, 99.0), ms(99));
        assert_eq!(percentile(&[ms(7)], 90.0), ms(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn the_report_compares_and_judges_the_targets() {
        let summaries = vec![
            Summary::of(HELLO, Some(1 << 20), &[run(2, &[1], 2048)]),
            Summary::of(
                "home-activities, telemetry on",
                Some(8 << 20),
                &[run(4, &[2, 2, 3], 8192)],
            ),
            Summary::of(
                "home-activities, telemetry off",
                Some(8 << 20),
                &[run(3, &[2, 2, 2], 6144)],
            ),
            Summary::of(
                "home-activities, Python stack",
                None,
                &[run(400, &[60], 40960)],
            ),
        ];
        let context = Context {
            date: "2026-11-21".into(),
            command: "scripts/bench".into(),
            machine: vec!["a machine".into()],
            rounds: 1,
            init_starts: 0,
            invocations: 4,
            pause: Duration::from_millis(20),
            otlp_requests: 3,
            xray_documents: 9,
        };
        let text = markdown(&context, &summaries, &[]);
        assert!(text.contains("| home-activities, telemetry on | 8.0 MiB | 4.000 (4.000-4.000) | 4.000 | 2.000 | 3.000 | 3.000 | 1.000 | 8.0 |"), "{text}");
        assert!(
            text.contains(
                "| home-activities: traced vs bare hello | 2.00x | 2.00x | 3.00x | 4.00x |"
            ),
            "{text}"
        );
        assert!(text.contains("| home-activities: Python stack vs Rust traced | 100.00x | 30.00x | 20.00x | 5.00x |"), "{text}");
        assert!(
            text.contains("within 1.5x of the bare hello: 2.00x, **not met**"),
            "{text}"
        );
        assert!(text.contains("under 0.3 ms: 0.000 ms, met"), "{text}");
        assert!(
            text.contains("at least 20x faster than the Python stack: 100.0x, met"),
            "{text}"
        );
    }

    #[test]
    fn the_gathered_code_link_is_judged_by_init_and_first_invocation() {
        let plain = Summary::of(
            "home-activities, telemetry on",
            None,
            &[run(10, &[1], 8192)],
        );
        let gathered = |init| {
            Summary::of(
                &format!("home-activities, telemetry on, {GATHERED}"),
                None,
                &[run(init, &[1], 6144)],
            )
        };
        let text = gathered_code(&Named(&[plain.clone(), gathered(8)]));
        assert!(
            text.contains("| home-activities, telemetry on | 10.0 / 8.000 | 20.0% | 10.0 / 8.000 | 20.0% | 8.0 / 6.0 |"),
            "{text}"
        );
        assert!(text.contains("up to 20.0%, met."), "{text}");
        assert!(text.contains("So it stays opt-in"), "{text}");
        let text = gathered_code(&Named(&[plain, gathered(10)]));
        assert!(text.contains("up to 0.0%, not met."), "{text}");
    }
}
