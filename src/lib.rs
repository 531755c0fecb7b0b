//! gst-violence: GStreamer elements that detect violence in video with a TorchScript
//! classifier. See DESIGN.md for the architecture.

pub mod bboxoverlay;
pub mod clipbuffer;
pub mod event;
pub mod hardattentioncrop;
pub mod meta;
pub mod model;
pub mod opticalflow;
pub mod query;
pub mod violenceclassify;
pub mod violencerecord;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    meta::register();
    bboxoverlay::register(plugin)?;
    clipbuffer::register(plugin)?;
    hardattentioncrop::register(plugin)?;
    opticalflow::register(plugin)?;
    violenceclassify::register(plugin)?;
    violencerecord::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    violence,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
