//! Prints the mean time of one argon2id password verification with stackd's parameters, which
//! bounds password sign-in throughput (used by `make bench`).

use std::time::Instant;

fn main() {
    let hash = stackd::crypto::password::hash("benchmark-password");
    let rounds = 20;
    let start = Instant::now();
    for _ in 0..rounds {
        assert!(stackd::crypto::password::verify("benchmark-password", &hash));
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    println!("{ms:.2}");
}
