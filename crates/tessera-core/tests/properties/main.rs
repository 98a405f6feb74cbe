//! Property tests (issue 22): the invariants the example tables in the modules illustrate,
//! checked on generated inputs. One module per validator; every case is generated from a
//! fixed seed, so a failure reproduces (proptest prints the minimal input it shrank to).

mod jwt;
mod pem;
mod pkce;
mod redirect_uri;
