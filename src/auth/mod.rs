//! Authentication: password hashing, access tokens (JWT), opaque refresh tokens and secrets, and
//! the signed-in principal with its role checks and row scopes.

pub mod password;
pub mod principal;
pub mod secrets;
pub mod tokens;

pub use principal::{Credentials, Principal, PrincipalKind};
