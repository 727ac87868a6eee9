//! placeholder until the robust kernels land
use crate::Result;
/// Placeholder.
pub fn coordinate_median_into(vectors: &[&[f32]], out: &mut [f32]) -> Result<()> {
    for (j, o) in out.iter_mut().enumerate() {
        let mut col: Vec<f32> = vectors.iter().map(|v| v[j]).collect();
        col.sort_by(f32::total_cmp);
        let n = col.len();
        *o = if n % 2 == 1 {
            col[n / 2]
        } else {
            (col[n / 2 - 1] + col[n / 2]) / 2.0
        };
    }
    Ok(())
}
