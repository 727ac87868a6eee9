//! placeholder until the robust kernels land
use crate::Result;
/// Placeholder.
pub fn trimmed_mean_into(vectors: &[&[f32]], beta: f64, out: &mut [f32]) -> Result<()> {
    let n = vectors.len();
    let k = (beta * n as f64).floor() as usize;
    for (j, o) in out.iter_mut().enumerate() {
        let mut col: Vec<f32> = vectors.iter().map(|v| v[j]).collect();
        col.sort_by(f32::total_cmp);
        let kept = &col[k..n - k];
        *o = kept.iter().sum::<f32>() / kept.len() as f32;
    }
    Ok(())
}
