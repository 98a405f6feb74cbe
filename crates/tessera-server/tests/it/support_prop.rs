//! Generated inputs for integration tests whose cases are HTTP requests: proptest's
//! strategies drawn from a fixed seed (so every run sends the same requests and a failure
//! reproduces), without its runner, whose closures cannot await.
#![allow(dead_code)]

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// `n` values of `strategy`, the same ones on every run for the same `seed`.
pub fn samples<S: Strategy>(strategy: S, n: usize, seed: u8) -> Vec<S::Value> {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    (0..n).map(|_| strategy.new_tree(&mut runner).expect("a generated value").current()).collect()
}
