// SPDX-License-Identifier: MPL-2.0

//! Version info for the plugin, and the run-time path to libtorch.
//!
//! torch-sys (`links = "tch"`) tells us where libtorch lives. The plugin is dlopen()ed by
//! GStreamer from anywhere, so it carries an rpath to that folder. On Linux rustc links with
//! `--as-needed`, which drops `libtorch_cuda` because nothing references it by symbol: tch
//! would then silently stay on the CPU on a GPU machine, so it is linked with
//! `--no-as-needed` whenever the libtorch build has it.

use std::path::PathBuf;

fn main() {
    gst_plugin_version_helper::info();

    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib_dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        println!("cargo:warning=torch-sys did not report libtorch's lib folder; no rpath set");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!(
        "cargo:rustc-env=VIOLENCE_LIBTORCH_LIB={}",
        lib_dir.display()
    );
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
