// SPDX-License-Identifier: MPL-2.0

//! TorchScript models: the metadata contract, device selection and the shared inference
//! worker. See docs/architecture.md "The model contract" and "Threads".

pub mod attention;
pub mod batching;
pub mod contract;
pub mod device;
pub mod frame_cache;
pub mod frame_encoder;
pub mod inputs;
pub mod locate;
pub mod output;
pub mod placement;
pub mod threads;
pub mod worker;

pub use contract::{resolve, InputKind, ModelConfig, ModelMetadata, Overrides};
pub use device::DeviceRequest;
pub use worker::{acquire, live_workers, ClipJob, ClipScore, JobOutcome, LoadedModel, SharedModel};
