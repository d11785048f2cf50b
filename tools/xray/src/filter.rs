//! Trace filters in X-Ray's filter-expression syntax (the part of it a local trace can answer):
//!
//! ```text
//! annotation.handle = "worf"            annotation.ColdStart = true
//! service("home-activities")            fault    error    throttle    ok
//! responsetime > 0.5                    duration >= 1      (seconds)
//! http.status = 500                     http.url CONTAINS "activities"    http.method = "POST"
//! !fault AND (annotation.user_id != "x" OR http.status >= 400)
//! ```
//!
//! Operators: `= != < <= > >=`, `CONTAINS`, `BEGINSWITH`, `ENDSWITH`; `AND`/`&&`, `OR`/`||`,
//! `NOT`/`!`, parentheses. Keywords are case-insensitive.

use serde_json::Value;

use crate::trace::Trace;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Flag(Flag),
    Service(String),
    Compare(Field, Op, Literal),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flag {
    Ok,
    Error,
    Fault,
    Throttle,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Annotation(String),
    ResponseTime,
    Duration,
    HttpStatus,
    HttpUrl,
    HttpMethod,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    BeginsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Op(Op),
    Not,
    And,
    Or,
    Open,
    Close,
}

fn tokens(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let symbol = match (c, next) {
            ('(', _) => Some((Token::Open, 1)),
            (')', _) => Some((Token::Close, 1)),
            ('=', Some('=')) => Some((Token::Op(Op::Eq), 2)),
            ('=', _) => Some((Token::Op(Op::Eq), 1)),
            ('!', Some('=')) => Some((Token::Op(Op::Ne), 2)),
            ('!', _) => Some((Token::Not, 1)),
            ('<', Some('=')) => Some((Token::Op(Op::Le), 2)),
            ('<', _) => Some((Token::Op(Op::Lt), 1)),
            ('>', Some('=')) => Some((Token::Op(Op::Ge), 2)),
            ('>', _) => Some((Token::Op(Op::Gt), 1)),
            ('&', Some('&')) => Some((Token::And, 2)),
            ('|', Some('|')) => Some((Token::Or, 2)),
            _ => None,
        };
        if let Some((token, len)) = symbol {
            out.push(token);
            i += len;
            continue;
        }
        match c {
            c if c.is_whitespace() => i += 1,
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a quoted string is not closed".into()),
                        Some('"') => break,
                        Some('\\') if i + 1 < chars.len() => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token::Text(text));
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let number = text
                    .parse()
                    .map_err(|_| format!("{text:?} is not a number"))?;
                out.push(Token::Number(number));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | ':'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.to_ascii_uppercase().as_str() {
                    "AND" => Token::And,
                    "OR" => Token::Or,
                    "NOT" => Token::Not,
                    "CONTAINS" => Token::Op(Op::Contains),
                    "BEGINSWITH" => Token::Op(Op::BeginsWith),
                    "ENDSWITH" => Token::Op(Op::EndsWith),
                    _ => Token::Word(word),
                });
            }
            other => return Err(format!("unexpected {other:?} at position {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Not) => Ok(Filter::Not(Box::new(self.unary()?))),
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Token::Word(word)) => self.predicate(&word),
            Some(other) => Err(format!("expected a condition, found {other:?}")),
            None => Err("expected a condition, found the end".into()),
        }
    }

    fn predicate(&mut self, word: &str) -> Result<Filter, String> {
        let lower = word.to_ascii_lowercase();
        let flag = match lower.as_str() {
            "ok" => Some(Flag::Ok),
            "error" => Some(Flag::Error),
            "fault" => Some(Flag::Fault),
            "throttle" => Some(Flag::Throttle),
            _ => None,
        };
        if let Some(flag) = flag {
            return Ok(Filter::Flag(flag));
        }
        if lower == "service" {
            return match (self.next(), self.next(), self.next()) {
                (Some(Token::Open), Some(Token::Text(name)), Some(Token::Close)) => {
                    Ok(Filter::Service(name))
                }
                _ => Err("write service(\"name\")".into()),
            };
        }
        let field = if let Some(key) = word.strip_prefix("annotation.") {
            Field::Annotation(key.to_owned())
        } else {
            match lower.as_str() {
                "responsetime" => Field::ResponseTime,
                "duration" => Field::Duration,
                "http.status" => Field::HttpStatus,
                "http.url" => Field::HttpUrl,
                "http.method" => Field::HttpMethod,
                _ => return Err(format!(
                    "unknown field {word:?} (annotation.KEY, responsetime, duration, http.status, http.url, http.method, service(\"name\"), ok, error, fault, throttle)"
                )),
            }
        };
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            _ => return Err(format!("expected an operator after {word}")),
        };
        let literal = match self.next() {
            Some(Token::Text(text)) => Literal::Text(text),
            Some(Token::Number(n)) => Literal::Number(n),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(format!("expected a value after {word} (quote strings)")),
        };
        Ok(Filter::Compare(field, op, literal))
    }
}

impl Filter {
    pub fn parse(input: &str) -> Result<Filter, String> {
        let mut parser = Parser {
            tokens: tokens(input)?,
            at: 0,
        };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some(extra) => Err(format!("unexpected {extra:?} after a complete condition")),
        }
    }

    pub fn matches(&self, trace: &Trace) -> bool {
        match self {
            Filter::And(a, b) => a.matches(trace) && b.matches(trace),
            Filter::Or(a, b) => a.matches(trace) || b.matches(trace),
            Filter::Not(inner) => !inner.matches(trace),
            Filter::Flag(Flag::Error) => trace.has(|s| s.error),
            Filter::Flag(Flag::Fault) => trace.has(|s| s.fault),
            Filter::Flag(Flag::Throttle) => trace.has(|s| s.throttle),
            Filter::Flag(Flag::Ok) => !trace.has(|s| s.error || s.fault || s.throttle),
            Filter::Service(name) => trace
                .spans()
                .iter()
                .any(|s| s.is_segment && s.name == *name),
            Filter::Compare(Field::Annotation(key), op, literal) => trace
                .annotations()
                .into_iter()
                .any(|(k, v)| k == key && compare_json(v, *op, literal)),
            Filter::Compare(field, op, literal) => {
                let entry = trace.entry();
                let value = match field {
                    Field::ResponseTime => entry
                        .and_then(|s| s.duration_ms())
                        .map(|ms| Literal::Number(ms / 1000.0)),
                    Field::Duration => trace.duration_ms().map(|ms| Literal::Number(ms / 1000.0)),
                    Field::HttpStatus => entry
                        .and_then(|s| s.http_status)
                        .map(|s| Literal::Number(s as f64)),
                    Field::HttpUrl => entry.and_then(|s| s.http_url.clone()).map(Literal::Text),
                    Field::HttpMethod => {
                        entry.and_then(|s| s.http_method.clone()).map(Literal::Text)
                    }
                    Field::Annotation(_) => unreachable!("handled above"),
                };
                value.is_some_and(|v| compare(&v, *op, literal))
            }
        }
    }
}

fn compare_json(value: &Value, op: Op, literal: &Literal) -> bool {
    let value = match value {
        Value::String(s) => Literal::Text(s.clone()),
        Value::Bool(b) => Literal::Bool(*b),
        Value::Number(n) => match n.as_f64() {
            Some(n) => Literal::Number(n),
            None => return false,
        },
        _ => return false,
    };
    compare(&value, op, literal)
}

fn compare(value: &Literal, op: Op, literal: &Literal) -> bool {
    use std::cmp::Ordering;
    let ordering = match (value, literal) {
        (Literal::Text(a), Literal::Text(b)) => {
            match op {
                Op::Contains => return a.contains(b.as_str()),
                Op::BeginsWith => return a.starts_with(b.as_str()),
                Op::EndsWith => return a.ends_with(b.as_str()),
                _ => {}
            }
            Some(a.cmp(b))
        }
        (Literal::Number(a), Literal::Number(b)) => a.partial_cmp(b),
        (Literal::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return op == Op::Ne;
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Contains | Op::BeginsWith | Op::EndsWith => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        for ok in [
            "annotation.handle = \"worf\"",
            "service(\"home-activities\") AND fault",
            "!fault && (annotation.user_id != \"x\" || http.status >= 400)",
            "responsetime > 0.5 OR duration >= 1",
            "http.url CONTAINS \"activities\" and not ok",
            "annotation.ColdStart = true",
        ] {
            Filter::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn explains_bad_filters() {
        for (bad, says) in [
            ("annotation.handle =", "expected a value"),
            ("annotation.handle worf", "expected an operator"),
            ("colour = 1", "unknown field"),
            ("(fault", "not closed"),
            ("fault fault", "unexpected"),
            ("annotation.handle = \"worf", "not closed"),
            ("service(worf)", "service(\"name\")"),
        ] {
            let err = Filter::parse(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
