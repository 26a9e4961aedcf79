//! Forwards the target and host triples to the tests, which compile the C
//! programs with the `cc` crate outside a build script (where cargo does not
//! set `TARGET` and `HOST`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["TARGET", "HOST"] {
        let value =
            std::env::var(var).unwrap_or_else(|_| panic!("cargo sets {var} for build scripts"));
        println!("cargo:rustc-env=HC_C_TESTS_{var}={value}");
    }
}
