//! The service map as text, Graphviz DOT, or one self-contained HTML page with an SVG graph.

use std::collections::{BTreeMap, HashMap};

use crate::map::{Health, NodeKey, ServiceMap, Stats};

pub fn text(map: &ServiceMap) -> String {
    let mut out = format!(
        "service map: {}, {}, from {}",
        plural(map.nodes.len(), "node"),
        plural(map.edges.len(), "edge"),
        plural(map.traces, "trace")
    );
    if map.partial_traces > 0 {
        out.push_str(&format!(
            " ({} partial: subsegments whose parent never arrived are left out)",
            map.partial_traces
        ));
    }
    out.push_str("\nnodes\n");
    for (key, stats) in map.ordered_nodes() {
        if key.is_client() {
            out.push_str(&format!("  {}\n", key.label()));
        } else {
            out.push_str(&format!("  {}  {}\n", key.label(), stats.summary()));
        }
    }
    out.push_str("edges\n");
    for ((from, to), stats) in &map.edges {
        out.push_str(&format!(
            "  {} -> {}  {}\n",
            from.label(),
            to.label(),
            stats.summary()
        ));
    }
    out
}

fn short_stats(stats: &Stats) -> [String; 2] {
    let ms = |p| {
        stats
            .percentile(p)
            .map_or("-".to_owned(), |v| format!("{v:.1} ms"))
    };
    [
        format!(
            "{} req · {} err · {} fault · {} thr",
            stats.requests, stats.errors, stats.faults, stats.throttles
        ),
        format!("p50 {} · p95 {}", ms(50.0), ms(95.0)),
    ]
}

/// Fill and line colours of a health state (the legend's).
fn palette(health: Health) -> (&'static str, &'static str) {
    match health {
        Health::Ok => ("#e8f5e9", "#2e7d32"),
        Health::Error => ("#fff3e0", "#ef6c00"),
        Health::Throttle => ("#f3e5f5", "#7b1fa2"),
        Health::Fault => ("#ffebee", "#c62828"),
    }
}

fn colour(key: &NodeKey, stats: &Stats) -> (&'static str, &'static str) {
    if key.is_client() {
        ("#eceff1", "#607d8b")
    } else {
        palette(stats.health())
    }
}

pub fn dot(map: &ServiceMap) -> String {
    let ids: HashMap<&NodeKey, usize> = map
        .ordered_nodes()
        .into_iter()
        .enumerate()
        .map(|(i, (k, _))| (k, i))
        .collect();
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from(
        "digraph xray {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n",
    );
    for (key, stats) in map.ordered_nodes() {
        let (fill, line) = colour(key, stats);
        let label = if key.is_client() {
            escape(&key.name)
        } else {
            let [counts, latency] = short_stats(stats);
            format!(
                "{}\\n{}\\n{}\\n{}",
                escape(&key.name),
                escape(&key.kind),
                counts,
                latency
            )
        };
        out.push_str(&format!(
            "  n{} [label=\"{label}\", fillcolor=\"{fill}\", color=\"{line}\"];\n",
            ids[key]
        ));
    }
    for ((from, to), stats) in &map.edges {
        let [counts, latency] = short_stats(stats);
        out.push_str(&format!(
            "  n{} -> n{} [label=\"{counts}\\n{latency}\"];\n",
            ids[from], ids[to]
        ));
    }
    out.push_str("}\n");
    out
}

const NODE_W: f64 = 230.0;
const NODE_H: f64 = 86.0;
const COL_GAP: f64 = 160.0;
const ROW_GAP: f64 = 40.0;
const MARGIN: f64 = 30.0;

/// Column of each node: the longest path from a node nobody calls (the client, usually).
fn columns(map: &ServiceMap) -> BTreeMap<NodeKey, usize> {
    let mut column: BTreeMap<NodeKey, usize> = map.nodes.keys().map(|k| (k.clone(), 0)).collect();
    // Relax edges; bounded by the node count so a cycle cannot loop forever.
    for _ in 0..map.nodes.len() {
        let mut changed = false;
        for (from, to) in map.edges.keys() {
            let next = column[from] + 1;
            if from != to && next > column[to] && next < map.nodes.len() {
                column.insert(to.clone(), next);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    column
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn html(map: &ServiceMap, title: &str) -> String {
    let column = columns(map);
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut position: HashMap<NodeKey, (f64, f64)> = HashMap::new();
    for (key, _) in map.ordered_nodes() {
        let col = column[key];
        let row = rows.entry(col).or_default();
        let x = MARGIN + col as f64 * (NODE_W + COL_GAP);
        let y = MARGIN + *row as f64 * (NODE_H + ROW_GAP);
        *row += 1;
        position.insert(key.clone(), (x, y));
    }
    let width = MARGIN * 2.0
        + (column.values().max().copied().unwrap_or(0) + 1) as f64 * (NODE_W + COL_GAP);
    let height =
        MARGIN * 2.0 + rows.values().max().copied().unwrap_or(1) as f64 * (NODE_H + ROW_GAP);

    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="service map">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#546e7a"/></marker></defs>
"##
    );
    for ((from, to), stats) in &map.edges {
        let (fx, fy) = position[from];
        let (tx, ty) = position[to];
        let (x1, y1) = (fx + NODE_W, fy + NODE_H / 2.0);
        let (x2, y2) = (tx, ty + NODE_H / 2.0);
        let [counts, latency] = short_stats(stats);
        // Healthy edges stay grey so the problems stand out.
        let stroke = match stats.health() {
            Health::Ok => "#546e7a",
            unhealthy => palette(unhealthy).1,
        };
        // Forward edges are straight; an edge back to an earlier column bends below.
        let path = if x2 > x1 {
            format!("M {x1:.1} {y1:.1} L {x2:.1} {y2:.1}")
        } else {
            let dip = fy.max(ty) + NODE_H + ROW_GAP / 2.0;
            format!(
                "M {x1:.1} {y1:.1} C {:.1} {dip:.1}, {:.1} {dip:.1}, {x2:.1} {y2:.1}",
                x1 + 60.0,
                x2 - 60.0
            )
        };
        // Both label lines sit above the edge, clear of its stroke.
        let (lx, ly) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 20.0);
        svg.push_str(&format!(
            r##"<g class="edge" data-from="{}" data-to="{}"><path d="{path}" fill="none" stroke="{stroke}" stroke-width="1.6" marker-end="url(#arrow)"/><text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" font-size="10" fill="#37474f">{}</text><text x="{lx:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#37474f">{}</text></g>
"##,
            escape_html(&from.label()),
            escape_html(&to.label()),
            escape_html(&counts),
            ly + 12.0,
            escape_html(&latency),
        ));
    }
    for (key, stats) in map.ordered_nodes() {
        let (x, y) = position[key];
        let (fill, line) = colour(key, stats);
        let mut lines = vec![(escape_html(&key.name), 14, "bold")];
        if !key.is_client() {
            let [counts, latency] = short_stats(stats);
            lines.push((escape_html(&key.kind), 11, "normal"));
            lines.push((escape_html(&counts), 11, "normal"));
            lines.push((escape_html(&latency), 11, "normal"));
        }
        let mut text = String::new();
        let top = y + NODE_H / 2.0 - (lines.len() as f64 - 1.0) * 8.0 + 4.0;
        for (i, (content, size, weight)) in lines.iter().enumerate() {
            text.push_str(&format!(
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="{size}" font-weight="{weight}" fill="#263238">{content}</text>"##,
                x + NODE_W / 2.0,
                top + i as f64 * 16.0
            ));
        }
        svg.push_str(&format!(
            r##"<g class="node" data-name="{}" data-kind="{}"><rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="10" fill="{fill}" stroke="{line}" stroke-width="2"/>{text}</g>
"##,
            escape_html(&key.name),
            escape_html(&key.kind),
        ));
    }
    svg.push_str("</svg>");

    let mut table = String::from(
        "<table><thead><tr><th>node</th><th>type</th><th>requests</th><th>errors</th><th>faults</th><th>throttles</th><th>p50</th><th>p95</th></tr></thead><tbody>\n",
    );
    for (key, stats) in map
        .ordered_nodes()
        .into_iter()
        .filter(|(k, _)| !k.is_client())
    {
        let ms = |p| {
            stats
                .percentile(p)
                .map_or("-".to_owned(), |v| format!("{v:.1} ms"))
        };
        table.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape_html(&key.name),
            escape_html(&key.kind),
            stats.requests,
            stats.errors,
            stats.faults,
            stats.throttles,
            ms(50.0),
            ms(95.0)
        ));
    }
    table.push_str("</tbody></table>");
    let partial = if map.partial_traces > 0 {
        format!(
            "<p>{} partial traces: subsegments whose parent never arrived are left out.</p>",
            map.partial_traces
        )
    } else {
        String::new()
    };
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#263238}}table{{border-collapse:collapse;margin-top:16px}}td,th{{border:1px solid #cfd8dc;padding:4px 10px;text-align:left}}.legend span{{display:inline-block;padding:2px 8px;margin-right:6px;border-radius:6px;border:2px solid}}svg{{max-width:100%;height:auto}}</style>
</head><body>
<h1>{title}</h1>
<p>{}, {}, from {}.</p>{partial}
<p class="legend"><span style="background:#e8f5e9;border-color:#2e7d32">OK</span><span style="background:#fff3e0;border-color:#ef6c00">errors (4xx)</span><span style="background:#f3e5f5;border-color:#7b1fa2">throttles (429)</span><span style="background:#ffebee;border-color:#c62828">faults (5xx)</span></p>
{svg}
{table}
</body></html>
"##,
        plural(map.nodes.len(), "node"),
        plural(map.edges.len(), "edge"),
        plural(map.traces, "trace"),
        title = escape_html(title),
    )
}

pub fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
