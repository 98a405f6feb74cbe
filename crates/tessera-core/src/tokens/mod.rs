//! Tokens: JOSE primitives ([`jose`]), Tessera's signing keys and JWKS ([`keys`]).

pub mod claims;
pub mod jose;
pub mod keys;
pub mod lookup;

pub use keys::{KeySet, KeyState, SigningKey, SigningKeyRecord};
