// SPDX-License-Identifier: MPL-2.0

//! The run-time path to libtorch for this crate's own test binary, as the plugin's
//! build.rs sets it for the plugin's (see there).

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
        println!(
            "cargo:rustc-link-arg=-Wl,-rpath,{}",
            std::path::Path::new(&lib_dir).display()
        );
    }
}
