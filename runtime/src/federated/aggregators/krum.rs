//! placeholder until the robust kernels land
use crate::Result;
/// Placeholder.
pub fn multi_krum_select(vectors: &[&[f32]], f: usize, m: usize) -> Result<Vec<usize>> {
    let n = vectors.len();
    let d = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>()
    };
    let mut scores: Vec<(f64, usize)> = (0..n)
        .map(|i| {
            let mut ds: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| d(vectors[i], vectors[j]))
                .collect();
            ds.sort_by(f64::total_cmp);
            (ds.iter().take(n - f - 2).sum(), i)
        })
        .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(scores.iter().take(m).map(|s| s.1).collect())
}
