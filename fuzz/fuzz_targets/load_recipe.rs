//! Fuzz the recipe loader: any bytes must give a recipe or diagnostics, never a panic, a hang or
//! unbounded memory (alias bombs are budgeted).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let set = recipe_loader::load_str("fuzz.yaml", text, &recipe_targets::load_options());
    for d in &set.diagnostics {
        // Every located diagnostic points inside its file.
        if let Some(src) = &d.source {
            assert!(d.span.offset <= src.text.len(), "span past the end of the file");
        }
        let _ = d.to_record();
    }
    let _ = recipe_loader::lint(&set);
});
