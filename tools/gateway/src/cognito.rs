//! The Cognito user pool authorizer of a REST API, locally: the same token checks, with
//! `jsonwebtoken` doing the cryptography.
//!
//! A route whose authorizer has scopes accepts an **access** token that carries one of them and
//! was issued to the app client; a route without scopes accepts an **ID** token of the app client
//! (`aud`). Either way the token is RS256-signed by a key of the pool's JWKS, unexpired, and issued
//! by the pool. What passes becomes `requestContext.authorizer.claims`, every value a string, as
//! API Gateway passes them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// How often an unknown `kid` may trigger a new JWKS download (a forged token must not turn the
/// gateway into a JWKS download loop).
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// The user pool and app client whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    pub region: String,
    pub pool_id: String,
    pub client_id: String,
    /// Where the keys are; by default the pool's own JWKS.
    pub jwks_url: String,
}

impl PoolSettings {
    /// From `AWS_COGNITO_USER_POOL_ID`, `AWS_COGNITO_USER_POOL_CLIENT_ID`, `AWS_REGION` (or the
    /// region in the pool id) and `CRUDDUR_JWKS_URL`. `None` when no pool is configured.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let non_empty = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let pool_id = non_empty("AWS_COGNITO_USER_POOL_ID")?;
        let client_id = non_empty("AWS_COGNITO_USER_POOL_CLIENT_ID")?;
        // A pool id starts with its region: `us-east-1_AbC123`.
        let region = non_empty("AWS_REGION")
            .or_else(|| non_empty("AWS_DEFAULT_REGION"))
            .or_else(|| pool_id.split_once('_').map(|(r, _)| r.to_owned()))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let jwks_url = non_empty("CRUDDUR_JWKS_URL").unwrap_or_else(|| {
            format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}/.well-known/jwks.json")
        });
        Some(Self {
            region,
            pool_id,
            client_id,
            jwks_url,
        })
    }

    /// The `iss` of the pool's tokens.
    pub fn issuer(&self) -> String {
        format!(
            "https://cognito-idp.{}.amazonaws.com/{}",
            self.region, self.pool_id
        )
    }
}

/// Why a request was refused (the client only ever sees 401 Unauthorized; the log says why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Verifies tokens against a pool, with its keys cached and refreshed on an unknown `kid`.
pub struct CognitoAuthorizer {
    settings: PoolSettings,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

impl CognitoAuthorizer {
    pub fn new(settings: PoolSettings) -> Self {
        crate::install_crypto_provider();
        Self {
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            keys: Mutex::new(Keys {
                by_kid: HashMap::new(),
                fetched: None,
            }),
        }
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Checks the `Authorization` header for a route that requires one of `scopes` (empty: an ID
    /// token). Returns the claims to pass on.
    pub async fn authorize(
        &self,
        authorization: Option<&str>,
        scopes: &[String],
    ) -> Result<Map<String, Value>, Refused> {
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Refused("no Authorization header".into()))?;
        // API Gateway takes the header's value as the token, with or without `Bearer `.
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => header,
        };
        let jwt_header =
            jsonwebtoken::decode_header(token).map_err(|e| Refused(format!("not a JWT: {e}")))?;
        if jwt_header.alg != Algorithm::RS256 {
            return Err(Refused(format!(
                "{:?} tokens are not Cognito's",
                jwt_header.alg
            )));
        }
        let kid = jwt_header
            .kid
            .ok_or_else(|| Refused("the token names no key (kid)".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.settings.issuer()]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_aud = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| Refused(format!("token rejected: {e}")))?
            .claims;
        self.check_kind(&claims, scopes)?;
        Ok(as_api_gateway_claims(claims))
    }

    /// Access token with a scope of the route and the app client, or (no scopes) an ID token of
    /// the app client.
    fn check_kind(&self, claims: &Map<String, Value>, scopes: &[String]) -> Result<(), Refused> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let client = &self.settings.client_id;
        if scopes.is_empty() {
            if text("token_use") != "id" {
                return Err(Refused("this route takes ID tokens".into()));
            }
            if text("aud") != client {
                return Err(Refused("the ID token is for another app client".into()));
            }
        } else {
            if text("token_use") != "access" {
                return Err(Refused("this route takes access tokens".into()));
            }
            if text("client_id") != client {
                return Err(Refused("the access token is for another app client".into()));
            }
            let granted: Vec<&str> = text("scope").split_whitespace().collect();
            if !scopes.iter().any(|s| granted.contains(&s.as_str())) {
                return Err(Refused(format!(
                    "the token has none of the scopes {scopes:?}"
                )));
            }
        }
        Ok(())
    }

    /// The key for `kid`, fetching the JWKS when it is not cached (and was not just fetched).
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refused> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.by_kid.get(kid) {
            return Ok(key.clone());
        }
        let recently = keys
            .fetched
            .is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY);
        if !recently {
            keys.fetched = Some(Instant::now());
            keys.by_kid = self.fetch().await?;
        }
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or_else(|| Refused(format!("no key {kid} in the pool's JWKS")))
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, Refused> {
        let url = &self.settings.jwks_url;
        let body = async {
            let response = self.http.get(url).send().await?.error_for_status()?;
            response.bytes().await
        }
        .await
        .map_err(|e| Refused(format!("cannot fetch the JWKS from {url}: {e}")))?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| Refused(format!("{url} is not a JWKS: {e}")))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect())
    }
}

/// Claims as a REST API's Cognito authorizer passes them: strings, times as dates.
fn as_api_gateway_claims(claims: Map<String, Value>) -> Map<String, Value> {
    claims
        .into_iter()
        .map(|(name, value)| {
            let text = match (&*name, &value) {
                ("exp" | "iat", Value::Number(n)) => n
                    .as_i64()
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| t.format("%a %b %d %H:%M:%S UTC %Y").to_string())
                    .unwrap_or_else(|| n.to_string()),
                (_, Value::String(s)) => s.clone(),
                (_, Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                (_, other) => other.to_string(),
            };
            (name, Value::String(text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_a_pool_and_a_client() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(PoolSettings::from_lookup(vars(&[])), None);
        assert_eq!(
            PoolSettings::from_lookup(vars(&[("AWS_COGNITO_USER_POOL_ID", "eu-west-1_Ab")])),
            None
        );
        let s = PoolSettings::from_lookup(vars(&[
            ("AWS_COGNITO_USER_POOL_ID", "eu-west-1_Ab"),
            ("AWS_COGNITO_USER_POOL_CLIENT_ID", "client"),
        ]))
        .unwrap();
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(
            s.jwks_url,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab/.well-known/jwks.json"
        );
        assert_eq!(
            s.issuer(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab"
        );
    }

    #[test]
    fn claims_are_strings_and_times_are_dates() {
        let claims = serde_json::json!({
            "sub": "abc", "exp": 1_795_244_400, "auth_time": 1_795_240_700,
            "cognito:groups": ["admins", "staff"], "email_verified": true
        });
        let out = as_api_gateway_claims(claims.as_object().unwrap().clone());
        assert_eq!(out["exp"], "Sat Nov 21 07:00:00 UTC 2026");
        assert_eq!(out["auth_time"], "1795240700");
        assert_eq!(out["cognito:groups"], "admins,staff");
        assert_eq!(out["email_verified"], "true");
        assert_eq!(out["sub"], "abc");
    }
}
