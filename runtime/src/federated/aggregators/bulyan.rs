//! placeholder until the robust kernels land
use crate::Result;
/// Placeholder.
pub fn bulyan_into(vectors: &[&[f32]], f: usize, out: &mut [f32]) -> Result<()> {
    super::median::coordinate_median_into(vectors, out)?;
    let _ = f;
    Ok(())
}
