//! The blastradius dashboard: only mounts the app (see `app`).

mod api;
mod app;
mod chaos;
mod chrome;
mod editor;
mod format;
mod graph;
mod log;
mod panel;
mod picture;
mod properties;
mod sides;
mod toolbar;
mod views;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
