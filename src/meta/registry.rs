// SPDX-License-Identifier: MPL-2.0

//! The GstMeta plumbing shared by our metas: a `#[repr(C)]` struct whose first field is the
//! `GstMeta` header and whose second is a plain Rust payload, registered once per process.

use gst::ffi as gst_ffi;
use gst::glib;
use gst::glib::translate::*;
use std::ptr;

/// How GStreamer asks a meta to follow a buffer to a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// A plain copy of the buffer (`gst_buffer_copy`, `make_writable`); `partial` is set when
    /// only a byte range is copied.
    Copy { partial: bool },
    /// The video was scaled from one size to another (e.g. `videoscale`).
    Scale { from: (u32, u32), to: (u32, u32) },
    /// Anything else: metas that cannot tell what it means drop themselves.
    Other,
}

/// A payload that rides on buffers as its own registered GstMeta API.
pub trait MetaPayload: Sized + Send + Sync + 'static {
    /// Name of the API GType (`...MetaAPI`).
    const API_NAME: &'static str;
    /// Name of the implementation (`...Meta`).
    const IMPL_NAME: &'static str;
    /// Tags deciding which elements keep the meta (see docs/architecture.md "Metadata").
    const TAGS: &'static [&'static str];

    /// The payload for the destination buffer, or `None` to not carry the meta over.
    fn transform(&self, how: Transform) -> Option<Self>;
}

/// The C layout of one of our metas.
#[repr(C)]
pub struct RawMeta<P> {
    parent: gst_ffi::GstMeta,
    payload: Option<P>,
}

impl<P> RawMeta<P> {
    pub fn payload(&self) -> &P {
        self.payload
            .as_ref()
            .expect("meta payload set by add() before the meta is visible")
    }
}

/// Registered API type and info for a payload type, looked up by name first so that the
/// plugin and a statically linked copy of this crate can both call it.
pub struct Registration {
    pub api: glib::Type,
    pub info: ptr::NonNull<gst_ffi::GstMetaInfo>,
}

// SAFETY: GstMetaInfo is immutable once registered and lives for the whole process.
unsafe impl Send for Registration {}
unsafe impl Sync for Registration {}

pub fn register<P: MetaPayload>() -> Registration {
    unsafe {
        let api = match glib::Type::from_name(P::API_NAME) {
            Some(api) => api,
            None => {
                let tags: Vec<glib::GString> = P::TAGS.iter().map(|t| (*t).into()).collect();
                let mut tag_ptrs: Vec<*const std::os::raw::c_char> =
                    tags.iter().map(|t| t.as_ptr()).collect();
                tag_ptrs.push(ptr::null());
                from_glib(gst_ffi::gst_meta_api_type_register(
                    P::API_NAME.to_glib_none().0,
                    tag_ptrs.as_mut_ptr(),
                ))
            }
        };
        let mut info = gst_ffi::gst_meta_get_info(P::IMPL_NAME.to_glib_none().0);
        if info.is_null() {
            info = gst_ffi::gst_meta_register(
                api.into_glib(),
                P::IMPL_NAME.to_glib_none().0,
                std::mem::size_of::<RawMeta<P>>(),
                Some(init::<P>),
                Some(free::<P>),
                Some(transform::<P>),
            ) as *mut _;
        }
        Registration {
            api,
            info: ptr::NonNull::new(info as *mut _).expect("gst_meta_register failed"),
        }
    }
}

unsafe extern "C" fn init<P: MetaPayload>(
    meta: *mut gst_ffi::GstMeta,
    _params: glib::ffi::gpointer,
    _buffer: *mut gst_ffi::GstBuffer,
) -> glib::ffi::gboolean {
    unsafe { ptr::write(&mut (*(meta as *mut RawMeta<P>)).payload, None) };
    true.into_glib()
}

unsafe extern "C" fn free<P: MetaPayload>(
    meta: *mut gst_ffi::GstMeta,
    _buffer: *mut gst_ffi::GstBuffer,
) {
    unsafe { ptr::drop_in_place(&mut (*(meta as *mut RawMeta<P>)).payload) };
}

unsafe extern "C" fn transform<P: MetaPayload>(
    dest: *mut gst_ffi::GstBuffer,
    meta: *mut gst_ffi::GstMeta,
    _src: *mut gst_ffi::GstBuffer,
    type_: glib::ffi::GQuark,
    data: glib::ffi::gpointer,
) -> glib::ffi::gboolean {
    let quark: glib::Quark = unsafe { from_glib(type_) };
    let how = if quark == glib::Quark::from_str("gst-copy") {
        let copy = unsafe { &*(data as *const gst_ffi::GstMetaTransformCopy) };
        Transform::Copy {
            partial: copy.region != glib::ffi::GFALSE,
        }
    } else if quark
        == unsafe { from_glib(gst_video::ffi::gst_video_meta_transform_scale_get_quark()) }
    {
        let scale = unsafe { &*(data as *const gst_video::ffi::GstVideoMetaTransform) };
        let (fw, fh, tw, th) = unsafe {
            (
                (*scale.in_info).width,
                (*scale.in_info).height,
                (*scale.out_info).width,
                (*scale.out_info).height,
            )
        };
        Transform::Scale {
            from: (fw.max(0) as u32, fh.max(0) as u32),
            to: (tw.max(0) as u32, th.max(0) as u32),
        }
    } else {
        Transform::Other
    };
    let raw = unsafe { &*(meta as *const RawMeta<P>) };
    let Some(payload) = raw.payload.as_ref().and_then(|p| p.transform(how)) else {
        // Not carried over; returning TRUE tells GStreamer this is intended, not an error.
        return true.into_glib();
    };
    unsafe {
        let info = (*meta).info;
        let new = gst_ffi::gst_buffer_add_meta(dest, info, ptr::null_mut()) as *mut RawMeta<P>;
        if new.is_null() {
            return false.into_glib();
        }
        (*new).payload = Some(payload);
    }
    true.into_glib()
}

/// Adds a meta with `payload` to `buffer`.
pub fn add<P: MetaPayload>(buffer: &mut gst::BufferRef, reg: &Registration, payload: P) {
    unsafe {
        let meta =
            gst_ffi::gst_buffer_add_meta(buffer.as_mut_ptr(), reg.info.as_ptr(), ptr::null_mut())
                as *mut RawMeta<P>;
        assert!(
            !meta.is_null(),
            "gst_buffer_add_meta({}) failed",
            P::IMPL_NAME
        );
        (*meta).payload = Some(payload);
    }
}

/// Declares a public meta type for a payload: `RawMeta` layout, `MetaAPI` so that
/// `buffer.meta::<T>()` works, and `add()` / `payload()` helpers.
macro_rules! declare_meta {
    ($(#[$doc:meta])* $meta:ident, $payload:ty) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $meta($crate::meta::registry::RawMeta<$payload>);

        impl $meta {
            fn registration() -> &'static $crate::meta::registry::Registration {
                static REG: std::sync::LazyLock<$crate::meta::registry::Registration> =
                    std::sync::LazyLock::new($crate::meta::registry::register::<$payload>);
                &REG
            }

            /// Registers the meta API (idempotent; done by `plugin_init`).
            pub fn ensure_registered() {
                Self::registration();
            }

            /// Attaches `payload` to `buffer`.
            pub fn add(buffer: &mut gst::BufferRef, payload: $payload) {
                $crate::meta::registry::add(buffer, Self::registration(), payload)
            }

            /// The payload this meta carries.
            pub fn payload(&self) -> &$payload {
                self.0.payload()
            }
        }

        // SAFETY: the payload is Send + Sync and the GstMeta header is only read.
        unsafe impl Send for $meta {}
        unsafe impl Sync for $meta {}

        // SAFETY: the layout starts with GstMeta and the API type is the registered one.
        unsafe impl gst::meta::MetaAPI for $meta {
            type GstType = $crate::meta::registry::RawMeta<$payload>;
            fn meta_api() -> gst::glib::Type {
                Self::registration().api
            }
        }

        impl std::fmt::Debug for $meta {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.payload(), f)
            }
        }
    };
}
pub(crate) use declare_meta;
