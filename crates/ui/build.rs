//! Compiles the Slint screens in the repository's `ui/` (one root, `ui/main.slint`), with the
//! Spanish translations of `ui/translations` bundled into the binary. Debug info is kept so
//! accessible labels are available to the UI tests (`find_by_accessible_label`).

fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_debug_info(true)
        .with_bundled_translations("../../ui/translations")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None);
    slint_build::compile_with_config("../../ui/main.slint", config)
        .expect("ui/main.slint compiles");
    println!("cargo:rerun-if-changed=../../ui");
}
