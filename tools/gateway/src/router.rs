//! Request routing as an API Gateway REST API does it: a path matches a resource segment by
//! segment; at each level a literal segment beats a `{variable}`, which beats a greedy
//! `{proxy+}`. A path that matches no resource, or a resource without the method, is answered by
//! the gateway itself (403 Missing Authentication Token).

use std::collections::HashMap;

use crate::template::RouteSpec;

/// What a request's method and path select.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched<'a> {
    /// The route and its path parameters, as they appear in the path (not decoded: API Gateway
    /// hands them to the function as sent).
    Route(&'a RouteSpec, HashMap<String, String>),
    /// The path is a resource, but not with this method.
    NoMethod { resource: &'a str },
    /// No resource has this path.
    NoResource,
}

/// How well a template segment matched: literal beats variable beats greedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    Greedy,
    Variable,
    Literal,
}

/// The path's segments. Leading and trailing slashes do not count; an empty segment inside the
/// path (`//`) does, and matches no variable.
pub fn segments(path: &str) -> Vec<&str> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

/// How `template` matches `path`, segment by segment, with its parameters; `None` if it does not.
fn fit(template: &str, path: &[&str]) -> Option<(Vec<Fit>, HashMap<String, String>)> {
    let template = segments(template);
    let mut fits = Vec::new();
    let mut params = HashMap::new();
    for (i, pattern) in template.iter().enumerate() {
        let variable = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
        match variable {
            Some(name) if name.ends_with('+') => {
                let rest = path.get(i..).filter(|rest| !rest.is_empty())?;
                if rest.iter().any(|s| s.is_empty()) {
                    return None;
                }
                params.insert(name.trim_end_matches('+').to_owned(), rest.join("/"));
                fits.push(Fit::Greedy);
                return (i == template.len() - 1).then_some((fits, params));
            }
            Some(name) => {
                let actual = path.get(i).filter(|s| !s.is_empty())?;
                params.insert(name.to_owned(), (*actual).to_owned());
                fits.push(Fit::Variable);
            }
            None => {
                if path.get(i) != Some(pattern) {
                    return None;
                }
                fits.push(Fit::Literal);
            }
        }
    }
    (template.len() == path.len()).then_some((fits, params))
}

/// Selects the route for `method` and `path` (the path without its query string).
pub fn route<'a>(routes: &'a [RouteSpec], method: &str, path: &str) -> Matched<'a> {
    let path = segments(path);
    // The most specific resource: compared level by level, literal first.
    let best = routes
        .iter()
        .filter_map(|route| fit(&route.path, &path).map(|(fits, _)| (fits, &route.path)))
        .max_by(|a, b| a.0.cmp(&b.0));
    let Some((_, resource)) = best else {
        return Matched::NoResource;
    };
    let on_resource = || routes.iter().filter(|r| &r.path == resource);
    let chosen = on_resource()
        .find(|r| r.method == method)
        .or_else(|| on_resource().find(|r| r.method == "ANY"));
    match chosen {
        Some(route) => {
            let (_, params) = fit(&route.path, &path).expect("the resource matched");
            Matched::Route(route, params)
        }
        None => Matched::NoMethod { resource },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(method: &str, path: &str, function: &str) -> RouteSpec {
        RouteSpec {
            method: method.into(),
            path: path.into(),
            function: function.into(),
            timeout: Duration::from_secs(3),
            authorizer: None,
        }
    }

    fn routes() -> Vec<RouteSpec> {
        vec![
            spec("GET", "/api/activities/home", "home"),
            spec("GET", "/api/activities/{handle}", "user"),
            spec("POST", "/api/activities", "create"),
            spec("GET", "/api/activities/{handle}/status/{uuid}", "show"),
            spec("POST", "/api/activities/{handle}/reply", "reply"),
            spec("GET", "/files/{path+}", "files"),
            spec("ANY", "/any", "any"),
        ]
    }

    fn function(matched: Matched<'_>) -> Option<(&str, HashMap<String, String>)> {
        match matched {
            Matched::Route(route, params) => Some((route.function.as_str(), params)),
            _ => None,
        }
    }

    #[test]
    fn literal_segments_beat_variables() {
        let routes = routes();
        assert_eq!(
            function(route(&routes, "GET", "/api/activities/home"))
                .unwrap()
                .0,
            "home"
        );
        let (f, params) = function(route(&routes, "GET", "/api/activities/@worf")).unwrap();
        assert_eq!((f, params["handle"].as_str()), ("user", "@worf"));
        let (f, params) =
            function(route(&routes, "GET", "/api/activities/%40worf/status/abc/")).unwrap();
        assert_eq!(f, "show");
        assert_eq!(params["handle"], "%40worf", "passed on as sent");
        assert_eq!(params["uuid"], "abc");
    }

    #[test]
    fn unknown_paths_and_methods() {
        let routes = routes();
        assert_eq!(route(&routes, "GET", "/nope"), Matched::NoResource);
        assert_eq!(route(&routes, "GET", "/"), Matched::NoResource);
        assert_eq!(
            route(&routes, "GET", "/api/activities//status/x"),
            Matched::NoResource
        );
        assert_eq!(
            route(&routes, "GET", "/api/../api/activities/home"),
            Matched::NoResource
        );
        assert_eq!(
            route(&routes, "DELETE", "/api/activities/home"),
            Matched::NoMethod {
                resource: "/api/activities/home"
            }
        );
        // `home` is a resource of its own: a POST there is not the reply route's.
        assert_eq!(
            route(&routes, "GET", "/api/activities"),
            Matched::NoMethod {
                resource: "/api/activities"
            }
        );
        assert_eq!(function(route(&routes, "PATCH", "/any")).unwrap().0, "any");
    }

    #[test]
    fn greedy_variables_take_the_rest() {
        let routes = routes();
        let (f, params) = function(route(&routes, "GET", "/files/a/b/c.txt")).unwrap();
        assert_eq!((f, params["path"].as_str()), ("files", "a/b/c.txt"));
        assert_eq!(route(&routes, "GET", "/files"), Matched::NoResource);
    }
}
