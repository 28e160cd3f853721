//! Compiles the Slint screens in the repository's `ui/`. Debug info is kept so accessible labels are available
//! to the UI tests (`find_by_accessible_label`).

fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_debug_info(true);
    slint_build::compile_with_config("../../ui/gate.slint", config)
        .expect("ui/gate.slint compiles");
    println!("cargo:rerun-if-changed=../../ui");
}
