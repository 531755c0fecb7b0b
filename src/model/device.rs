// SPDX-License-Identifier: MPL-2.0

//! The `device` property: `auto`, `cpu`, `cuda` or `cuda:N`.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    /// CUDA device 0 when libtorch sees one, else the CPU.
    Auto,
    Cpu,
    /// `cuda` (device 0) or `cuda:N`.
    Cuda(usize),
}

impl FromStr for DeviceRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" | "" => Ok(DeviceRequest::Auto),
            "cpu" => Ok(DeviceRequest::Cpu),
            "cuda" => Ok(DeviceRequest::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n < 64)
                .map(DeviceRequest::Cuda)
                .ok_or_else(|| format!("device '{other}' is not auto, cpu, cuda or cuda:N")),
        }
    }
}

impl std::fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            DeviceRequest::Auto => f.write_str("auto"),
            DeviceRequest::Cpu => f.write_str("cpu"),
            DeviceRequest::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceRequest {
    /// The libtorch device, or a clear error when CUDA is asked for but absent.
    pub fn resolve(self) -> Result<tch::Device, String> {
        match self {
            DeviceRequest::Auto => Ok(tch::Device::cuda_if_available()),
            DeviceRequest::Cpu => Ok(tch::Device::Cpu),
            DeviceRequest::Cuda(n) => {
                let count = tch::Cuda::device_count().max(0) as usize;
                if count == 0 {
                    Err(format!(
                        "device=cuda:{n} was requested but libtorch sees no CUDA device \
                         (no GPU, no driver, or a CPU-only libtorch); use device=cpu or auto"
                    ))
                } else if n >= count {
                    Err(format!(
                        "device=cuda:{n} was requested but only {count} CUDA device(s) exist"
                    ))
                } else {
                    Ok(tch::Device::Cuda(n))
                }
            }
        }
    }
}

pub fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cpu => "cpu".into(),
        tch::Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("auto".parse(), Ok(DeviceRequest::Auto));
        assert_eq!("cpu".parse(), Ok(DeviceRequest::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceRequest::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceRequest::Cuda(3)));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:999"] {
            assert!(bad.parse::<DeviceRequest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_always_resolves() {
        assert_eq!(DeviceRequest::Cpu.resolve(), Ok(tch::Device::Cpu));
        let auto = DeviceRequest::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), tch::Cuda::is_available());
    }

    #[test]
    fn cuda_without_gpu_is_a_clear_error() {
        if tch::Cuda::is_available() {
            return; // nothing to check on a GPU machine
        }
        let err = DeviceRequest::Cuda(0).resolve().unwrap_err();
        assert!(err.contains("no CUDA device"), "{err}");
    }
}
