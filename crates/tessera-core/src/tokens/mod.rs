//! Tokens: JOSE primitives ([`jose`]), Tessera's signing keys and JWKS ([`keys`]), the
//! tokens issued and checked ([`claims`]) and ID tokens handed back as hints
//! ([`id_token_hint`]).

pub mod claims;
pub mod id_token_hint;
pub mod jose;
pub mod keys;
pub mod lookup;
pub mod pem;

pub use keys::{KeySet, KeyState, SigningKey, SigningKeyRecord};
