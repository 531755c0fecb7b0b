//! Row-band parallelism over planar f32 buffers using scoped threads.

use std::ops::Range;

/// Below this many pixels per band, spawning a thread costs more than it saves.
const MIN_PIXELS_PER_BAND: usize = 12_000;

/// Number of row bands worth using for a `width` x `height` job.
pub(crate) fn band_count(threads: usize, width: usize, height: usize) -> usize {
    let by_size = (width * height / MIN_PIXELS_PER_BAND).max(1);
    threads.max(1).min(by_size).min(height.max(1))
}

/// Splits the rows of every output plane into `bands` contiguous bands and runs
/// `work(rows, band_slices)` for each band, on its own thread except the last one.
/// Each band slice starts at row `rows.start` of its plane.
pub(crate) fn for_each_band<const N: usize, F>(
    bands: usize,
    width: usize,
    height: usize,
    outputs: [&mut [f32]; N],
    work: F,
) where
    F: Fn(Range<usize>, [&mut [f32]; N]) + Sync,
{
    let plane_len = width * height;
    if bands <= 1 || height < 2 {
        work(0..height, outputs.map(|plane| &mut plane[..plane_len]));
        return;
    }
    let rows_per_band = height.div_ceil(bands);
    let mut chunks = outputs.map(|plane| plane[..plane_len].chunks_mut(rows_per_band * width));
    std::thread::scope(|scope| {
        let work = &work;
        let mut start = 0;
        while start < height {
            let end = (start + rows_per_band).min(height);
            let slices: [&mut [f32]; N] =
                std::array::from_fn(|k| chunks[k].next().expect("band count matches"));
            if end == height {
                work(start..end, slices);
            } else {
                scope.spawn(move || work(start..end, slices));
            }
            start = end;
        }
    });
}

/// The rows each band covers, in the same split as `for_each_band`.
pub(crate) fn band_rows(bands: usize, height: usize) -> impl Iterator<Item = Range<usize>> {
    let rows_per_band = if bands <= 1 || height < 2 {
        height.max(1)
    } else {
        height.div_ceil(bands)
    };
    (0..height)
        .step_by(rows_per_band)
        .map(move |start| start..(start + rows_per_band).min(height))
}
