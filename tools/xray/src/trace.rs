//! Traces assembled from segment documents, the way X-Ray stitches them: embedded subsegments stay
//! where they are, subsegments sent on their own go under their `parent_id`, and a segment whose
//! parent is a subsegment of another service hangs below that subsegment.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::document::is_independent_subsegment;

/// A segment or subsegment with its children, as it sits in the assembled trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub id: String,
    pub name: String,
    /// A segment (a service's own record) rather than a subsegment.
    pub is_segment: bool,
    pub origin: Option<String>,
    pub namespace: Option<String>,
    pub start: f64,
    /// None while in progress.
    pub end: Option<f64>,
    pub error: bool,
    pub fault: bool,
    pub throttle: bool,
    pub http_method: Option<String>,
    pub http_url: Option<String>,
    pub http_status: Option<u64>,
    pub aws_operation: Option<String>,
    pub aws_table: Option<String>,
    pub annotations: BTreeMap<String, Value>,
    pub children: Vec<Span>,
}

impl Span {
    fn from_part(part: &Value, is_segment: bool) -> Self {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let flag = |name: &str| part[name].as_bool().unwrap_or(false);
        let mut children: Vec<Span> = part["subsegments"]
            .as_array()
            .map(|subs| subs.iter().map(|s| Span::from_part(s, false)).collect())
            .unwrap_or_default();
        sort_by_start(&mut children);
        Self {
            id: text(&part["id"]).unwrap_or_default(),
            name: text(&part["name"]).unwrap_or_default(),
            is_segment,
            origin: text(&part["origin"]),
            namespace: text(&part["namespace"]),
            start: part["start_time"].as_f64().unwrap_or_default(),
            end: part["end_time"].as_f64(),
            error: flag("error"),
            fault: flag("fault"),
            throttle: flag("throttle"),
            http_method: text(&part["http"]["request"]["method"]),
            http_url: text(&part["http"]["request"]["url"]),
            http_status: part["http"]["response"]["status"].as_u64(),
            aws_operation: text(&part["aws"]["operation"]),
            aws_table: text(&part["aws"]["table_name"]),
            annotations: part["annotations"]
                .as_object()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            children,
        }
    }

    pub fn duration_ms(&self) -> Option<f64> {
        self.end.map(|end| (end - self.start) * 1000.0)
    }

    /// This span and everything below it, depth first.
    pub fn walk(&self) -> Vec<&Span> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.walk());
        }
        out
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut Span> {
        if self.id == id {
            return Some(self);
        }
        self.children.iter_mut().find_map(|c| c.find_mut(id))
    }

    fn ids(&self) -> Vec<String> {
        self.walk().into_iter().map(|s| s.id.clone()).collect()
    }
}

fn sort_by_start(spans: &mut [Span]) {
    spans.sort_by(|a, b| a.start.total_cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
}

/// A top of the assembled trace.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    Span(Box<Span>),
    /// Subsegments whose parent was never received (in Lambda, the facade segment that the
    /// Lambda service sends itself).
    MissingParent {
        parent_id: String,
        children: Vec<Span>,
    },
}

/// One trace: the documents received for it and their assembled tree.
#[derive(Debug, Clone)]
pub struct Trace {
    pub id: String,
    pub documents: Vec<Value>,
    pub roots: Vec<Root>,
}

impl Trace {
    /// Assembles a trace from its documents, in whatever order they arrived. A document whose id
    /// was already seen replaces the earlier one (an in-progress segment, then the finished one).
    pub fn assemble(id: &str, documents: &[Value]) -> Self {
        let mut latest: Vec<&Value> = Vec::new();
        let mut position: HashMap<&str, usize> = HashMap::new();
        for doc in documents {
            let doc_id = doc["id"].as_str().unwrap_or_default();
            match position.get(doc_id) {
                Some(&i) => latest[i] = doc,
                None => {
                    position.insert(doc_id, latest.len());
                    latest.push(doc);
                }
            }
        }
        let items: Vec<(Option<String>, Span)> = latest
            .iter()
            .map(|doc| {
                let parent = doc["parent_id"].as_str().map(str::to_owned);
                (
                    parent,
                    Span::from_part(doc, !is_independent_subsegment(doc)),
                )
            })
            .collect();
        Self {
            id: id.to_owned(),
            documents: latest.into_iter().cloned().collect(),
            roots: stitch(items),
        }
    }

    /// Every span has finished and every parent has arrived.
    pub fn is_complete(&self) -> bool {
        !self.roots.is_empty()
            && self.roots.iter().all(|root| match root {
                Root::Span(span) => span.walk().iter().all(|s| s.end.is_some()),
                Root::MissingParent { .. } => false,
            })
    }

    pub fn spans(&self) -> Vec<&Span> {
        self.roots
            .iter()
            .flat_map(|root| match root {
                Root::Span(span) => vec![span.as_ref()],
                Root::MissingParent { children, .. } => children.iter().collect(),
            })
            .flat_map(Span::walk)
            .collect()
    }

    /// Where the request entered: the first segment, or, when the segment above never arrived
    /// (a Lambda function's facade, locally), the first subsegment below it.
    pub fn entry(&self) -> Option<&Span> {
        let segment = self.roots.iter().find_map(|root| match root {
            Root::Span(span) if span.is_segment => Some(span.as_ref()),
            _ => None,
        });
        segment.or_else(|| {
            self.roots.iter().find_map(|root| match root {
                Root::Span(span) => Some(span.as_ref()),
                Root::MissingParent { children, .. } => children.first(),
            })
        })
    }

    pub fn start(&self) -> f64 {
        self.spans()
            .iter()
            .map(|s| s.start)
            .fold(f64::INFINITY, f64::min)
    }

    /// From the first start to the last end.
    pub fn duration_ms(&self) -> Option<f64> {
        let spans = self.spans();
        let ends: Option<Vec<f64>> = spans.iter().map(|s| s.end).collect();
        let end = ends?.into_iter().fold(f64::NEG_INFINITY, f64::max);
        Some((end - self.start()) * 1000.0)
    }

    pub fn has(&self, flag: fn(&Span) -> bool) -> bool {
        self.spans().into_iter().any(flag)
    }

    /// Every annotation in the trace (X-Ray indexes annotations per trace).
    pub fn annotations(&self) -> Vec<(&str, &Value)> {
        self.spans()
            .into_iter()
            .flat_map(|s| s.annotations.iter().map(|(k, v)| (k.as_str(), v)))
            .collect()
    }
}

/// Puts each top-level document under its parent, if that arrived.
fn stitch(items: Vec<(Option<String>, Span)>) -> Vec<Root> {
    // Which top-level item holds each id (its own or an embedded subsegment's).
    let mut holder: HashMap<String, usize> = HashMap::new();
    for (index, (_, span)) in items.iter().enumerate() {
        for id in span.ids() {
            holder.entry(id).or_insert(index);
        }
    }
    let mut attached: Vec<Vec<(String, usize)>> = vec![Vec::new(); items.len()];
    let mut tops = Vec::new();
    for (index, (parent, _)) in items.iter().enumerate() {
        match parent.as_ref().and_then(|p| holder.get(p).map(|&h| (p, h))) {
            Some((parent, h)) if h != index => attached[h].push((parent.clone(), index)),
            _ => tops.push(index),
        }
    }
    let mut slots: Vec<Option<(Option<String>, Span)>> = items.into_iter().map(Some).collect();
    let mut done = HashSet::new();
    let mut roots: Vec<(Option<String>, Span)> = Vec::new();
    for top in tops {
        if let Some(built) = build(top, &mut slots, &attached, &mut done) {
            roots.push(built);
        }
    }
    // Documents that only point at each other (a cycle) are shown as tops rather than lost.
    for index in 0..slots.len() {
        if let Some(built) = build(index, &mut slots, &attached, &mut done) {
            roots.push(built);
        }
    }
    group_roots(roots)
}

fn build(
    index: usize,
    slots: &mut [Option<(Option<String>, Span)>],
    attached: &[Vec<(String, usize)>],
    done: &mut HashSet<usize>,
) -> Option<(Option<String>, Span)> {
    if !done.insert(index) {
        return None;
    }
    let (parent, mut span) = slots[index].take()?;
    for (parent_id, child) in &attached[index] {
        if let Some((_, child_span)) = build(*child, slots, attached, done) {
            if let Some(node) = span.find_mut(parent_id) {
                node.children.push(child_span);
                sort_by_start(&mut node.children);
            }
        }
    }
    Some((parent, span))
}

/// Segments are roots of their own; subsegments without their parent are grouped by that parent.
fn group_roots(mut roots: Vec<(Option<String>, Span)>) -> Vec<Root> {
    roots.sort_by(|a, b| {
        a.1.start
            .total_cmp(&b.1.start)
            .then_with(|| a.1.id.cmp(&b.1.id))
    });
    let mut out: Vec<Root> = Vec::new();
    for (parent, span) in roots {
        match parent {
            Some(parent_id) if !span.is_segment => {
                let existing = out.iter_mut().find_map(|r| match r {
                    Root::MissingParent {
                        parent_id: p,
                        children,
                    } if *p == parent_id => Some(children),
                    _ => None,
                });
                match existing {
                    Some(children) => children.push(span),
                    None => out.push(Root::MissingParent {
                        parent_id,
                        children: vec![span],
                    }),
                }
            }
            _ => out.push(Root::Span(Box::new(span))),
        }
    }
    out
}

/// Documents grouped by trace id, in arrival order.
#[derive(Debug, Default, Clone)]
pub struct TraceSet {
    order: Vec<String>,
    documents: HashMap<String, Vec<Value>>,
}

impl TraceSet {
    pub fn add(&mut self, document: Value) {
        let id = document["trace_id"].as_str().unwrap_or_default().to_owned();
        if !self.documents.contains_key(&id) {
            self.order.push(id.clone());
        }
        self.documents.entry(id).or_default().push(document);
    }

    pub fn remove(&mut self, trace_id: &str) {
        if self.documents.remove(trace_id).is_some() {
            self.order.retain(|id| id != trace_id);
        }
    }

    pub fn get(&self, trace_id: &str) -> Option<Trace> {
        self.documents
            .get(trace_id)
            .map(|docs| Trace::assemble(trace_id, docs))
    }

    pub fn ids(&self) -> &[String] {
        &self.order
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Every trace, earliest first.
    pub fn traces(&self) -> Vec<Trace> {
        let mut traces: Vec<Trace> = self.order.iter().filter_map(|id| self.get(id)).collect();
        traces.sort_by(|a, b| {
            a.start()
                .total_cmp(&b.start())
                .then_with(|| a.id.cmp(&b.id))
        });
        traces
    }
}

impl FromIterator<Value> for TraceSet {
    fn from_iter<I: IntoIterator<Item = Value>>(documents: I) -> Self {
        let mut set = TraceSet::default();
        documents.into_iter().for_each(|d| set.add(d));
        set
    }
}
