//! Access tokens: short-lived JWTs signed with the configured key. Verification accepts only the
//! configured algorithm and only keys it knows by `kid`, so `alg: none`, algorithm confusion and
//! foreign keys are all refused.

use std::collections::HashMap;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{JwtAlgorithm, JwtSettings};
use crate::domain::ids::DepartmentId;
use crate::domain::role::Role;
use crate::error::ErrorCode;

/// What an access token says. `sub` is `user:<id>` or `client:<id>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<DepartmentId>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The account's session epoch when the token was issued: a password change, a reset or
    /// disabling the account moves the epoch on, and tokens naming an older one are refused.
    /// Required: a token from before epochs existed is refused (its client refreshes).
    pub sv: i64,
}

/// Why a token was refused; every one of them is a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token was signed with a key this server does not know")]
    UnknownKey,
    #[error("the access token is malformed or its signature is invalid")]
    Invalid,
}

impl TokenError {
    pub fn code(self) -> ErrorCode {
        match self {
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::NotYetValid => ErrorCode::TokenNotYetValid,
            TokenError::UnknownKey => ErrorCode::UnknownSigningKey,
            TokenError::Invalid => ErrorCode::InvalidToken,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct KeyError {
    pub variable: &'static str,
    pub message: String,
}

pub struct TokenKeys {
    algorithm: Algorithm,
    key_id: String,
    issuer: String,
    access_ttl_secs: i64,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
}

impl TokenKeys {
    /// Builds the key set from configuration. Without a configured HS256 secret a random one is
    /// made, good for this process only.
    pub fn from_settings(settings: &JwtSettings) -> Result<Self, KeyError> {
        let bad = |variable: &'static str| {
            move |e: jsonwebtoken::errors::Error| KeyError {
                variable,
                message: format!("unusable key: {e}"),
            }
        };
        let (algorithm, encoding, decoding_current) = match settings.algorithm {
            JwtAlgorithm::Hs256 => {
                let secret = match &settings.signing_key {
                    Some(secret) => secret.clone(),
                    None => {
                        log::warn!(
                            "HOTLINE_JWT_SIGNING_KEY is not set: signing with a random key; tokens end with this process"
                        );
                        crate::auth::secrets::random_bytes::<32>().to_vec()
                    }
                };
                (
                    Algorithm::HS256,
                    EncodingKey::from_secret(&secret),
                    DecodingKey::from_secret(&secret),
                )
            }
            JwtAlgorithm::Es256 | JwtAlgorithm::EdDsa => {
                let private = settings.signing_key.as_deref().unwrap_or_default();
                let public = settings.public_key.as_deref().unwrap_or_default();
                if settings.algorithm == JwtAlgorithm::Es256 {
                    (
                        Algorithm::ES256,
                        EncodingKey::from_ec_pem(private)
                            .map_err(bad("HOTLINE_JWT_SIGNING_KEY"))?,
                        DecodingKey::from_ec_pem(public).map_err(bad("HOTLINE_JWT_PUBLIC_KEY"))?,
                    )
                } else {
                    (
                        Algorithm::EdDSA,
                        EncodingKey::from_ed_pem(private)
                            .map_err(bad("HOTLINE_JWT_SIGNING_KEY"))?,
                        DecodingKey::from_ed_pem(public).map_err(bad("HOTLINE_JWT_PUBLIC_KEY"))?,
                    )
                }
            }
        };
        let mut decoding = HashMap::from([(settings.key_id.clone(), decoding_current)]);
        for (kid, material) in &settings.extra_verification_keys {
            let key = match algorithm {
                Algorithm::HS256 => DecodingKey::from_secret(material),
                Algorithm::ES256 => DecodingKey::from_ec_pem(material)
                    .map_err(bad("HOTLINE_JWT_VERIFICATION_KEYS"))?,
                _ => DecodingKey::from_ed_pem(material)
                    .map_err(bad("HOTLINE_JWT_VERIFICATION_KEYS"))?,
            };
            decoding.entry(kid.clone()).or_insert(key);
        }
        Ok(Self {
            algorithm,
            key_id: settings.key_id.clone(),
            issuer: settings.issuer.clone(),
            access_ttl_secs: settings.access_ttl.as_secs() as i64,
            encoding,
            decoding,
        })
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// Signs an access token for `sub` with `role` (and department, for department roles), valid
    /// while the account stays in session epoch `sv`.
    pub fn issue(&self, sub: String, role: Role, dept: Option<DepartmentId>, sv: i64) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub,
            role,
            dept,
            iat: now,
            nbf: now,
            exp: now + self.access_ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
            sv,
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims with the current key (tests use it to forge edge cases).
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing with a validated key")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != self.algorithm {
            return Err(TokenError::Invalid);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(self.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                _ => TokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(secret: &str, kid: &str) -> JwtSettings {
        JwtSettings {
            algorithm: JwtAlgorithm::Hs256,
            key_id: kid.into(),
            signing_key: Some(secret.as_bytes().to_vec()),
            public_key: None,
            extra_verification_keys: vec![],
            issuer: "hotline".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify() {
        let keys = TokenKeys::from_settings(&settings(SECRET, "k1")).unwrap();
        let token = keys.issue(
            "user:7".into(),
            Role::DepartmentStaff,
            Some(DepartmentId(3)),
            0,
        );
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role, claims.dept),
            ("user:7", Role::DepartmentStaff, Some(DepartmentId(3)))
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_through_extra_keys() {
        let old = TokenKeys::from_settings(&settings(SECRET, "k1")).unwrap();
        let token = old.issue("user:1".into(), Role::Admin, None, 0);
        let mut rotated = settings("fedcba9876543210fedcba9876543210", "k2");
        rotated.extra_verification_keys = vec![("k1".into(), SECRET.as_bytes().to_vec())];
        let new = TokenKeys::from_settings(&rotated).unwrap();
        assert!(new.verify(&token).is_ok());
        let without_old =
            TokenKeys::from_settings(&settings("fedcba9876543210fedcba9876543210", "k2")).unwrap();
        assert_eq!(without_old.verify(&token), Err(TokenError::UnknownKey));
    }

    #[test]
    fn tampering_and_expiry_are_refused() {
        let keys = TokenKeys::from_settings(&settings(SECRET, "k1")).unwrap();
        let now = Utc::now().timestamp();
        let claims = |iat: i64, exp: i64| Claims {
            iss: "hotline".into(),
            sub: "user:1".into(),
            role: Role::Admin,
            dept: None,
            iat,
            nbf: iat,
            exp,
            jti: "x".into(),
            sv: 0,
        };
        assert_eq!(
            keys.verify(&keys.sign(&claims(now - 100, now - 50))),
            Err(TokenError::Expired)
        );
        assert_eq!(
            keys.verify(&keys.sign(&claims(now + 600, now + 900))),
            Err(TokenError::NotYetValid)
        );
        let token = keys.issue("user:1".into(), Role::Admin, None, 0);
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(keys.verify(&tampered), Err(TokenError::Invalid));
        assert_eq!(keys.verify("not.a.token"), Err(TokenError::Invalid));
    }
}
