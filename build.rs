//! Generates the Cap'n Proto bindings for `schema/*.capnp`.
//!
//! The `capnp` schema compiler is a C++ program that a fresh machine may not have. When it is on PATH
//! (or named by `$CAPNP`), the bindings are generated from `schema/`; otherwise the checked-in copies
//! in `schema/generated/` (produced by the same capnpc version, see `scripts/regen-schema.sh`) are
//! used, so `cargo build` never needs the compiler.
use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMAS: [&str; 4] = ["common", "status", "message", "object_storage"];

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for s in SCHEMAS {
        println!("cargo:rerun-if-changed=schema/{s}.capnp");
        println!("cargo:rerun-if-changed=schema/generated/{s}_capnp.rs");
    }
    println!("cargo:rerun-if-env-changed=CAPNP");
    let exe = std::env::var("CAPNP").unwrap_or_else(|_| "capnp".into());
    let have_compiler = Command::new(&exe)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if have_compiler {
        let mut cmd = capnpc::CompilerCommand::new();
        cmd.capnp_executable(&exe)
            .src_prefix("schema")
            .default_parent_module(vec!["schema".into()]);
        for s in SCHEMAS {
            cmd.file(format!("schema/{s}.capnp"));
        }
        cmd.run().expect("capnp schema compilation");
    } else {
        for s in SCHEMAS {
            let name = format!("{s}_capnp.rs");
            std::fs::copy(Path::new("schema/generated").join(&name), out.join(&name))
                .expect("schema/generated is missing and no capnp compiler was found");
        }
    }
}
