// SPDX-License-Identifier: MPL-2.0

//! Features of recently encoded frames, for models with a frame encoder
//! (docs/architecture.md "The model contract"). With the default clip length 16 and stride 8 frames at frame step 2, every
//! sampled frame is in four windows; encoding it once saves three encoder passes in four.
//!
//! A frame is known by its buffer: clipbuffer hands the same `gst::Buffer` to every window
//! that holds the sample. The cache keeps a reference to each buffer it knows, so no other
//! frame can get the same address while its entry lives; identity is exact, without
//! hashing pixels.

use std::collections::VecDeque;
use tch::Tensor;

/// What is known of each of the last frames, by buffer: a frame encoder's features by
/// default; violenceclassify keeps its scene-cut thumbnails in one too.
pub struct FrameCache<T = Tensor> {
    /// Oldest first.
    entries: VecDeque<(gst::Buffer, T)>,
    capacity: usize,
}

impl<T> FrameCache<T> {
    /// Keeps the features of the last `capacity` encoded frames (of every stream).
    pub fn new(capacity: usize) -> Self {
        FrameCache {
            entries: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// Grows the cache to hold at least `capacity` frames.
    pub fn ensure_capacity(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity);
    }

    pub fn get(&self, frame: &gst::Buffer) -> Option<&T> {
        // Newest first: the frames a window shares with the previous one were added last.
        self.entries
            .iter()
            .rev()
            .find(|(known, _)| known.as_ptr() == frame.as_ptr())
            .map(|(_, features)| features)
    }

    pub fn insert(&mut self, frame: gst::Buffer, features: T) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((frame, features));
    }

    /// Forgets every frame.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The frames among `frames` that have no features yet, each once, in order.
    pub fn missing<'a>(
        &self,
        frames: impl IntoIterator<Item = &'a gst::Buffer>,
    ) -> Vec<gst::Buffer> {
        let mut out: Vec<gst::Buffer> = Vec::new();
        for frame in frames {
            if self.get(frame).is_none() && !out.iter().any(|m| m.as_ptr() == frame.as_ptr()) {
                out.push(frame.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_known_by_buffer_and_evicted_oldest_first() {
        gst::init().unwrap();
        let frames: Vec<gst::Buffer> = (0..4).map(|_| gst::Buffer::with_size(8).unwrap()).collect();
        let mut cache = FrameCache::new(3);
        assert_eq!(cache.missing(&frames[..2]).len(), 2);
        // A frame repeated in one request is encoded once.
        let twice = [frames[0].clone(), frames[0].clone()];
        assert_eq!(cache.missing(&twice).len(), 1);
        for (i, f) in frames.iter().enumerate() {
            cache.insert(f.clone(), Tensor::from_slice(&[i as f32]));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&frames[0]).is_none(), "the oldest went first");
        let third = cache.get(&frames[2]).unwrap();
        assert_eq!(Vec::<f32>::try_from(third).unwrap(), [2.0]);
        // Same bytes, another buffer: a different frame.
        let copy = gst::Buffer::with_size(8).unwrap();
        assert!(cache.get(&copy).is_none());
        assert_eq!(cache.missing([&frames[1], &copy, &frames[3]]).len(), 1);
    }
}
