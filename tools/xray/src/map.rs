//! The service map, computed the way X-Ray computes its service graph:
//! - a node per service, keyed by segment name and origin (`home-activities` /
//!   `AWS::Lambda::Function`);
//! - an inferred node per downstream call that was not traced itself: a subsegment with
//!   `namespace: "aws"` (`DynamoDB` -> `AWS::DynamoDB`) or `namespace: "remote"`;
//! - an edge from the service that made a call (the owner of the upstream subsegment) to the
//!   service or inferred node that answered it, and from `client` to where a trace entered;
//! - on each node and edge: requests, error/fault/throttle counts and latency p50/p95.

use std::collections::BTreeMap;

use crate::trace::{Root, Span, Trace};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeKey {
    pub name: String,
    /// The origin (`AWS::Lambda::Function`), `AWS::<service>` or `remote` for inferred nodes,
    /// `client` for the caller.
    pub kind: String,
}

impl NodeKey {
    pub fn client() -> Self {
        Self {
            name: "client".into(),
            kind: "client".into(),
        }
    }

    pub fn is_client(&self) -> bool {
        self.kind == "client"
    }

    pub fn label(&self) -> String {
        if self.is_client() || self.kind.is_empty() {
            self.name.clone()
        } else {
            format!("{} [{}]", self.name, self.kind)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub faults: usize,
    pub throttles: usize,
    pub latencies_ms: Vec<f64>,
}

impl Stats {
    fn record(&mut self, span: &Span) {
        self.requests += 1;
        self.errors += usize::from(span.error && !span.throttle);
        self.faults += usize::from(span.fault);
        self.throttles += usize::from(span.throttle);
        if let Some(ms) = span.duration_ms() {
            self.latencies_ms.push(ms);
        }
    }

    /// Nearest-rank percentile of the finished calls' latencies.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    /// The worst state, for colouring.
    pub fn health(&self) -> Health {
        if self.faults > 0 {
            Health::Fault
        } else if self.errors > 0 {
            Health::Error
        } else if self.throttles > 0 {
            Health::Throttle
        } else {
            Health::Ok
        }
    }

    pub fn summary(&self) -> String {
        let latency = |p: f64| match self.percentile(p) {
            Some(ms) => format!("{ms:.1} ms"),
            None => "-".to_owned(),
        };
        format!(
            "requests {}  errors {}  faults {}  throttles {}  p50 {}  p95 {}",
            self.requests,
            self.errors,
            self.faults,
            self.throttles,
            latency(50.0),
            latency(95.0)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Error,
    Fault,
    Throttle,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceMap {
    pub nodes: BTreeMap<NodeKey, Stats>,
    pub edges: BTreeMap<(NodeKey, NodeKey), Stats>,
    pub traces: usize,
    /// Traces with subsegments whose parent never arrived; those subsegments are left out, as
    /// X-Ray cannot place them either.
    pub partial_traces: usize,
}

impl ServiceMap {
    pub fn compute(traces: &[Trace]) -> Self {
        let mut map = ServiceMap {
            traces: traces.len(),
            ..Default::default()
        };
        for trace in traces {
            let mut partial = false;
            for root in &trace.roots {
                match root {
                    Root::Span(span) if span.is_segment => {
                        map.visit(span, Some(&NodeKey::client()), false)
                    }
                    Root::Span(span) => map.visit(span, None, false),
                    Root::MissingParent { children, .. } => {
                        partial = true;
                        children.iter().for_each(|c| map.visit(c, None, false));
                    }
                }
            }
            map.partial_traces += usize::from(partial);
        }
        if map.edges.keys().any(|(from, _)| from.is_client()) {
            map.nodes.entry(NodeKey::client()).or_default();
        }
        map
    }

    /// `owner`: the service whose (sub)segment this span sits in; `in_call`: below a subsegment
    /// that already stands for a downstream call.
    fn visit(&mut self, span: &Span, owner: Option<&NodeKey>, in_call: bool) {
        if span.is_segment {
            let key = NodeKey {
                name: span.name.clone(),
                kind: span.origin.clone().unwrap_or_default(),
            };
            self.nodes.entry(key.clone()).or_default().record(span);
            if let Some(owner) = owner {
                self.edge(owner, &key, span);
            }
            for child in &span.children {
                self.visit(child, Some(&key), false);
            }
            return;
        }
        let call = span
            .namespace
            .as_deref()
            .filter(|n| *n == "aws" || *n == "remote");
        if let (Some(namespace), Some(owner), false) = (call, owner, in_call) {
            let answered_by_a_traced_service = span.walk().iter().any(|s| s.is_segment);
            if !answered_by_a_traced_service {
                let key = NodeKey {
                    name: span.name.clone(),
                    kind: if namespace == "aws" {
                        format!("AWS::{}", span.name)
                    } else {
                        "remote".to_owned()
                    },
                };
                self.nodes.entry(key.clone()).or_default().record(span);
                self.edge(owner, &key, span);
            }
        }
        for child in &span.children {
            self.visit(child, owner, in_call || call.is_some());
        }
    }

    fn edge(&mut self, from: &NodeKey, to: &NodeKey, span: &Span) {
        self.edges
            .entry((from.clone(), to.clone()))
            .or_default()
            .record(span);
    }

    /// Client first, then services and inferred nodes by name.
    pub fn ordered_nodes(&self) -> Vec<(&NodeKey, &Stats)> {
        let mut nodes: Vec<_> = self.nodes.iter().collect();
        nodes.sort_by_key(|(key, _)| (!key.is_client(), (*key).clone()));
        nodes
    }
}
