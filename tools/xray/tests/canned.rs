//! Canned datagrams, as a deployed Lambda trace and a local one would arrive (out of order, with
//! a malformed and an oversized datagram among them), read back as exact trees and an exact map.

use std::time::{Duration, Instant};

use cruddur_xray::document::MAX_DATAGRAM_BYTES;
use cruddur_xray::filter::Filter;
use cruddur_xray::listen::{Collector, Timing};
use cruddur_xray::map::ServiceMap;
use cruddur_xray::trace::{Trace, TraceSet};
use cruddur_xray::{map_render, tree};

const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
const T1: &str = "1-65f0a2b1-0123456789abcdef01234567";
const T2: &str = "1-65f0a2b2-89abcdef0123456789abcdef";
const T3: &str = "1-65f0a2b3-fedcba9876543210fedcba98";

fn arrivals() -> Vec<Vec<u8>> {
    include_str!("fixtures/arrivals.jsonl")
        .lines()
        .map(|line| format!("{HEADER}{line}").into_bytes())
        .collect()
}

fn all_traces() -> Vec<Trace> {
    let documents = include_str!("fixtures/arrivals.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap());
    documents.collect::<TraceSet>().traces()
}

const T1_TREE: &str = "\
trace 1-65f0a2b1-0123456789abcdef01234567  70.0 ms  6 documents
└─ cruddur-api/Prod [AWS::ApiGateway::Stage]  70.0 ms  GET https://api.example.com/Prod/api/activities/home -> 200
   └─ Lambda (aws)  66.0 ms  Invoke
      └─ home-activities [AWS::Lambda]  64.0 ms  -> 200
         └─ home-activities [AWS::Lambda::Function]  61.0 ms
            ├─ Invocation  59.0 ms
            ├─ home-activities  57.0 ms  GET /api/activities/home -> 200  {ColdStart=true, handle=\"andrewbrown\", service=\"cruddur\"}
            │  ├─ DynamoDB (aws)  20.0 ms  Query cruddur
            │  └─ SQLite (remote)  1.0 ms
            └─ Overhead  2.0 ms
";

const T2_TREE: &str = "\
trace 1-65f0a2b2-89abcdef0123456789abcdef  100.0 ms  4 documents  ERROR  FAULT  THROTTLE
└─ home-activities [AWS::Lambda]  100.0 ms
   └─ home-activities [AWS::Lambda::Function]  96.0 ms  FAULT
      └─ home-activities  92.0 ms  GET /api/activities/home -> 500  FAULT  {ColdStart=false, handle=\"worf\", service=\"cruddur\"}
         └─ DynamoDB (aws)  40.0 ms  Query cruddur  -> 400  ERROR  THROTTLE
";

const T3_TREE: &str = "\
trace 1-65f0a2b3-fedcba9876543210fedcba98  20.0 ms  1 document  partial  ERROR
└─ ? c000000000000009 (parent not received)
   └─ create-activity  20.0 ms  POST /api/activities -> 422  ERROR  {handle=\"worf\"}
";

#[test]
fn complete_traces_print_when_settled_and_partial_ones_when_idle() {
    let timing = Timing {
        settle: Duration::from_millis(200),
        idle: Duration::from_secs(2),
    };
    let start = Instant::now();
    let mut collector = Collector::default();
    let mut datagrams = arrivals();
    // A malformed datagram and an oversized one, among the good ones.
    datagrams.insert(3, format!("{HEADER}{{\"name\": \"cut off").into_bytes());
    let mut oversized = HEADER.as_bytes().to_vec();
    oversized.resize(MAX_DATAGRAM_BYTES + 1, b' ');
    datagrams.insert(7, oversized);
    let rejections: Vec<String> = datagrams
        .iter()
        .filter_map(|d| collector.receive(d, start).err().map(|r| r.0))
        .collect();
    assert_eq!(rejections.len(), 2, "{rejections:?}");
    assert!(rejections[0].contains("not valid JSON"), "{rejections:?}");
    assert!(
        rejections[1].contains("over the daemon's 65536-byte limit"),
        "{rejections:?}"
    );
    assert_eq!((collector.accepted, collector.rejected), (11, 2));

    // Nothing yet: even complete traces wait for their stragglers.
    assert!(collector
        .ready(start + Duration::from_millis(100), timing)
        .is_empty());
    let settled = collector.ready(start + Duration::from_millis(250), timing);
    let printed: Vec<String> = settled.iter().map(tree::render).collect();
    assert_eq!(printed, vec![T1_TREE.to_owned(), T2_TREE.to_owned()]);

    let idle = collector.ready(start + Duration::from_secs(3), timing);
    assert_eq!(
        idle.iter().map(tree::render).collect::<Vec<_>>(),
        vec![T3_TREE]
    );
    assert!(collector.drain().is_empty());
}

#[test]
fn a_late_document_replaces_its_in_progress_version() {
    let open = format!(
        "{HEADER}{{\"name\":\"svc\",\"id\":\"1111111111111111\",\"trace_id\":\"{T1}\",\"start_time\":1.0,\"in_progress\":true}}"
    );
    let closed = format!(
        "{HEADER}{{\"name\":\"svc\",\"id\":\"1111111111111111\",\"trace_id\":\"{T1}\",\"start_time\":1.0,\"end_time\":1.5}}"
    );
    let timing = Timing::default();
    let start = Instant::now();
    let mut collector = Collector::default();
    collector.receive(open.as_bytes(), start).unwrap();
    assert!(
        collector.ready(start + timing.settle, timing).is_empty(),
        "in progress is not complete"
    );
    collector.receive(closed.as_bytes(), start).unwrap();
    let trace = collector.ready(start + timing.settle, timing);
    assert_eq!(
        tree::render(&trace[0]),
        format!("trace {T1}  500.0 ms  1 document\n└─ svc  500.0 ms\n")
    );
}

const MAP: &str = "\
service map: 6 nodes, 6 edges, from 3 traces (1 partial: subsegments whose parent never arrived are left out)
nodes
  client
  DynamoDB [AWS::DynamoDB]  requests 2  errors 0  faults 0  throttles 1  p50 20.0 ms  p95 40.0 ms
  SQLite [remote]  requests 1  errors 0  faults 0  throttles 0  p50 1.0 ms  p95 1.0 ms
  cruddur-api/Prod [AWS::ApiGateway::Stage]  requests 1  errors 0  faults 0  throttles 0  p50 70.0 ms  p95 70.0 ms
  home-activities [AWS::Lambda]  requests 2  errors 0  faults 0  throttles 0  p50 64.0 ms  p95 100.0 ms
  home-activities [AWS::Lambda::Function]  requests 2  errors 0  faults 1  throttles 0  p50 61.0 ms  p95 96.0 ms
edges
  client -> cruddur-api/Prod [AWS::ApiGateway::Stage]  requests 1  errors 0  faults 0  throttles 0  p50 70.0 ms  p95 70.0 ms
  client -> home-activities [AWS::Lambda]  requests 1  errors 0  faults 0  throttles 0  p50 100.0 ms  p95 100.0 ms
  cruddur-api/Prod [AWS::ApiGateway::Stage] -> home-activities [AWS::Lambda]  requests 1  errors 0  faults 0  throttles 0  p50 64.0 ms  p95 64.0 ms
  home-activities [AWS::Lambda] -> home-activities [AWS::Lambda::Function]  requests 2  errors 0  faults 1  throttles 0  p50 61.0 ms  p95 96.0 ms
  home-activities [AWS::Lambda::Function] -> DynamoDB [AWS::DynamoDB]  requests 2  errors 0  faults 0  throttles 1  p50 20.0 ms  p95 40.0 ms
  home-activities [AWS::Lambda::Function] -> SQLite [remote]  requests 1  errors 0  faults 0  throttles 0  p50 1.0 ms  p95 1.0 ms
";

#[test]
fn the_service_map_has_a_node_per_service_and_inferred_downstream_nodes() {
    let map = ServiceMap::compute(&all_traces());
    assert_eq!(map_render::text(&map), MAP);
}

#[test]
fn dot_and_html_show_the_same_graph() {
    let map = ServiceMap::compute(&all_traces());
    let dot = map_render::dot(&map);
    assert!(dot.starts_with("digraph xray {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 6, "{dot}");
    assert_eq!(dot.matches("[label=").count(), 12, "{dot}");

    let html = map_render::html(&map, "Cruddur service map");
    assert!(html.starts_with("<!doctype html>"));
    assert!(!html.contains("<script"), "self-contained, no scripts");
    assert!(!html.contains("src="), "nothing loaded from elsewhere");
    assert_eq!(html.matches("<g class=\"node\"").count(), 6);
    assert_eq!(html.matches("<g class=\"edge\"").count(), 6);
    assert!(html.contains("data-name=\"DynamoDB\" data-kind=\"AWS::DynamoDB\""));
    assert!(html.contains(
        "data-from=\"home-activities [AWS::Lambda::Function]\" data-to=\"SQLite [remote]\""
    ));
    // The faulty function is drawn red, the healthy SQLite node green.
    let node = |kind: &str| {
        let at = html
            .find(&format!("data-kind=\"{kind}\"><rect"))
            .expect(kind);
        html[at..].split_once("/>").unwrap().0.to_owned()
    };
    assert!(node("AWS::Lambda::Function").contains("fill=\"#ffebee\" stroke=\"#c62828\""));
    assert!(node("remote").contains("fill=\"#e8f5e9\""));

    // Every node lies inside the drawing, and the page scales the drawing to the window.
    let number = |text: &str, attribute: &str| -> f64 {
        let start = text.find(&format!(" {attribute}=\"")).expect(attribute) + attribute.len() + 3;
        text[start..].split('"').next().unwrap().parse().unwrap()
    };
    let view_box: Vec<f64> = html
        .split_once("viewBox=\"")
        .unwrap()
        .1
        .split('"')
        .next()
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let rects: Vec<&str> = html.split("<rect").skip(1).collect();
    assert_eq!(rects.len(), 6);
    for rect in rects {
        let (x, y) = (number(rect, "x"), number(rect, "y"));
        let (w, h) = (number(rect, "width"), number(rect, "height"));
        assert!(x >= 0.0 && y >= 0.0, "{rect}");
        assert!(
            x + w <= view_box[2] && y + h <= view_box[3],
            "{rect} outside {view_box:?}"
        );
    }
    assert!(html.contains("svg{max-width:100%;height:auto}"));
}

#[test]
fn filters_select_traces_like_x_ray_filter_expressions() {
    let traces = all_traces();
    let select = |expression: &str| -> Vec<String> {
        let filter = Filter::parse(expression).unwrap();
        traces
            .iter()
            .filter(|t| filter.matches(t))
            .map(|t| t.id.clone())
            .collect()
    };
    assert_eq!(select("annotation.handle = \"worf\""), vec![T2, T3]);
    assert_eq!(select("annotation.handle = \"worf\" AND fault"), vec![T2]);
    assert_eq!(select("annotation.ColdStart = true"), vec![T1]);
    assert_eq!(select("ok"), vec![T1]);
    assert_eq!(select("throttle OR error"), vec![T2, T3]);
    assert_eq!(select("service(\"cruddur-api/Prod\")"), vec![T1]);
    assert_eq!(select("responsetime > 0.08"), vec![T2]);
    assert_eq!(select("http.status = 200"), vec![T1]);
    // Without its facade segment, a Lambda trace is entered at the function's own subsegment.
    assert_eq!(
        select("http.status = 422 AND http.method = \"POST\""),
        vec![T3]
    );
    assert_eq!(select("http.url CONTAINS \"/Prod/\""), vec![T1]);
    assert_eq!(select("!(annotation.handle = \"worf\")"), vec![T1]);
    assert!(select("annotation.handle = \"nobody\"").is_empty());
}

#[test]
fn the_trace_list_has_one_line_per_trace() {
    let lines: Vec<String> = all_traces().iter().map(tree::summary_line).collect();
    assert_eq!(
        lines,
        vec![
            "1-65f0a2b1-0123456789abcdef01234567  2024-03-12T18:28:01.000Z  70.0 ms  cruddur-api/Prod  GET https://api.example.com/Prod/api/activities/home -> 200  {ColdStart=true, handle=\"andrewbrown\", service=\"cruddur\"}",
            "1-65f0a2b2-89abcdef0123456789abcdef  2024-03-12T18:28:02.000Z  100.0 ms  home-activities  ERROR  FAULT  THROTTLE  {ColdStart=false, handle=\"worf\", service=\"cruddur\"}",
            "1-65f0a2b3-fedcba9876543210fedcba98  2024-03-12T18:28:03.000Z  20.0 ms  create-activity  POST /api/activities -> 422  ERROR  {handle=\"worf\"}",
        ]
    );
}
