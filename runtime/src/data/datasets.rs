//! Real data sets, embedded in the binary: nothing is read from disk at run time.
//!
//! Both are taken unchanged from the scikit-learn 1.9.1 wheel (`sklearn/datasets/data/`)
//! and stored gzipped in `runtime/data/`:
//!
//! - [`digits`]: UCI ML "Optical Recognition of Handwritten Digits" (E. Alpaydin,
//!   C. Kaynak, 1998), test set as shipped by scikit-learn; CC BY 4.0. 1797 8x8 images
//!   of the digits 0 to 9, written by 43 people.
//! - [`breast_cancer`]: UCI ML "Breast Cancer Wisconsin (Diagnostic)" (W. Wolberg,
//!   W. Street, O. Mangasarian, 1995), as shipped by scikit-learn (uncompressed there;
//!   gzip here); CC BY 4.0. 569 tumours, 30 real features, malignant (0) or benign (1).
//!
//! Neither records which client an example belongs to: split them with
//! [`partition`](super::partition) and hand the parts to [`Dataset::clients`].

use std::fmt::Display;
use std::io::Read;

use flate2::read::GzDecoder;

pub use super::Dataset;
use crate::{FeddxError, Result};

const DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
const BREAST_CANCER_GZ: &[u8] = include_bytes!("../../data/breast_cancer.csv.gz");
const DIGITS_ROWS: usize = 1797;

/// The handwritten digits: 1797 examples of 64 pixels (an 8x8 image, row by row)
/// scaled from `0..=16` to `[0, 1]`, labelled with the digit `0..=9`.
pub fn digits() -> Result<Dataset<64>> {
    let text = gunzip("digits", DIGITS_GZ)?;
    let mut data = parse_rows::<64>("digits", text.lines().enumerate(), 10)?;
    if data.len() != DIGITS_ROWS {
        return Err(malformed(
            "digits",
            format!("{} rows, expected {DIGITS_ROWS}", data.len()),
        ));
    }
    for (row, x) in data.features.iter_mut().enumerate() {
        if let Some(v) = x.iter().find(|v| !(0.0..=16.0).contains(*v)) {
            return Err(malformed(
                "digits",
                format!("row {row} has pixel {v}, outside 0..=16"),
            ));
        }
        *x = x.map(|v| v / 16.0);
    }
    Ok(data)
}

/// Breast cancer diagnosis: 569 examples of 30 features, each standardised to zero
/// mean and unit variance, labelled 0 (malignant, 212) or 1 (benign, 357).
///
/// The statistics are taken over the whole data set, so a test split carved out
/// afterwards has leaked into them. For a clean evaluation use [`breast_cancer_raw`],
/// split, and standardise both parts with the training split's
/// [`feature_stats`](Dataset::feature_stats).
pub fn breast_cancer() -> Result<Dataset<30>> {
    let mut data = breast_cancer_raw()?;
    let (mean, std) = data.feature_stats();
    data.standardize_with(&mean, &std);
    Ok(data)
}

/// Breast cancer diagnosis as stored, features not standardised (they range over
/// very different scales).
pub fn breast_cancer_raw() -> Result<Dataset<30>> {
    const NAME: &str = "breast_cancer";
    let text = gunzip(NAME, BREAST_CANCER_GZ)?;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map_or("", |(_, l)| l.trim());
    let fields: Vec<&str> = header.split(',').collect();
    let rows = match fields.as_slice() {
        [rows, "30", "malignant", "benign"] => rows.parse::<usize>().ok(),
        _ => None,
    };
    let rows = rows.ok_or_else(|| {
        malformed(
            NAME,
            format!("header `{header}`, expected `<rows>,30,malignant,benign`"),
        )
    })?;
    let data = parse_rows::<30>(NAME, lines, 2)?;
    if data.len() != rows {
        return Err(malformed(
            NAME,
            format!("{} rows, the header says {rows}", data.len()),
        ));
    }
    Ok(data)
}

fn malformed(name: &str, what: impl Display) -> FeddxError {
    FeddxError::Data {
        what: format!("{name}: {what}"),
    }
}

fn gunzip(name: &str, bytes: &[u8]) -> Result<String> {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| malformed(name, format!("cannot decompress: {e}")))?;
    Ok(text)
}

/// Parses CSV lines of `N` finite numbers then an integer label below `num_classes`;
/// blank lines are skipped. Lines are numbered from 0 in `lines`, from 1 in errors.
fn parse_rows<'a, const N: usize>(
    name: &str,
    lines: impl Iterator<Item = (usize, &'a str)>,
    num_classes: usize,
) -> Result<Dataset<N>> {
    let mut data = Dataset {
        features: Vec::new(),
        labels: Vec::new(),
        num_classes,
    };
    for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = i + 1;
        let fields: Vec<&str> = line.trim().split(',').map(str::trim).collect();
        let (label, values) = match fields.split_last() {
            Some((label, values)) if values.len() == N => (label, values),
            _ => {
                let width = fields.len();
                return Err(malformed(
                    name,
                    format!("line {line_no} has {width} values, expected {}", N + 1),
                ));
            }
        };
        let mut row = [0f32; N];
        for (x, field) in row.iter_mut().zip(values) {
            *x = field
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    malformed(
                        name,
                        format!("line {line_no}: `{field}` is not a finite number"),
                    )
                })?;
        }
        let label = label
            .parse::<usize>()
            .ok()
            .filter(|&l| l < num_classes)
            .ok_or_else(|| {
                malformed(
                    name,
                    format!("line {line_no}: label `{label}` is not a class in 0..{num_classes}"),
                )
            })?;
        data.features.push(row);
        data.labels.push(label);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_1797_scaled_images_of_ten_classes() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.num_classes, 10);
        assert!(d.features.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
        assert!(d.features.iter().flatten().any(|&v| v == 1.0));
        let counts = d.class_counts();
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
    }

    #[test]
    fn breast_cancer_is_standardised_with_212_malignant() {
        let d = breast_cancer().unwrap();
        assert_eq!(d.len(), 569);
        assert_eq!(d.class_counts(), vec![212, 357]);
        let n = d.len() as f64;
        for j in 0..30 {
            let mean = d.features.iter().map(|r| f64::from(r[j])).sum::<f64>() / n;
            let var = d
                .features
                .iter()
                .map(|r| (f64::from(r[j]) - mean).powi(2))
                .sum::<f64>()
                / n;
            assert!(mean.abs() < 1e-4, "column {j}: mean {mean}");
            assert!((var.sqrt() - 1.0).abs() < 1e-4, "column {j}: var {var}");
        }
        let raw = breast_cancer_raw().unwrap();
        assert_eq!(raw.features[0][0], 17.99);
        assert_eq!(raw.labels, d.labels);
    }

    #[test]
    fn malformed_rows_are_typed_errors() {
        let parse = |text: &'static str| parse_rows::<2>("t", text.lines().enumerate(), 2);
        assert_eq!(parse("1,2,1\n\n3,4,0\n").unwrap().labels, vec![1, 0]);
        for bad in ["1,2", "1,2,3,0", "1,x,0", "1,inf,0", "1,2,2", "1,2,-1"] {
            assert!(matches!(parse(bad), Err(FeddxError::Data { .. })), "{bad}");
        }
        assert!(matches!(
            gunzip("t", b"not gzip"),
            Err(FeddxError::Data { .. })
        ));
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let d = digits().unwrap();
        let (train, test) = d.train_test_split(0.2, 1).unwrap();
        assert_eq!(train.len() + test.len(), d.len());
        assert!((355..=365).contains(&test.len()), "{}", test.len());
        for (tr, te) in train.class_counts().iter().zip(test.class_counts()) {
            assert!((te as f64 / (tr + te) as f64 - 0.2).abs() < 0.01);
        }
        let mut all: Vec<_> = train.features.iter().chain(&test.features).collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut orig: Vec<_> = d.features.iter().collect();
        orig.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(all, orig);
        assert_eq!(d.train_test_split(0.2, 1).unwrap(), (train.clone(), test));
        assert_ne!(d.train_test_split(0.2, 2).unwrap().0, train);
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                d.train_test_split(bad, 1),
                Err(FeddxError::InvalidPartition { .. })
            ));
        }
    }

    /// Column `j`'s mean and population standard deviation over `rows`, in f64.
    fn column_stats(rows: &[[f32; 30]], j: usize) -> (f64, f64) {
        let n = rows.len() as f64;
        let mean = rows.iter().map(|r| f64::from(r[j])).sum::<f64>() / n;
        let var = rows
            .iter()
            .map(|r| (f64::from(r[j]) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    #[test]
    fn train_stats_standardise_both_splits() {
        let (raw_train, raw_test) = breast_cancer_raw()
            .unwrap()
            .train_test_split(0.25, 3)
            .unwrap();
        let (mut train, mut test) = (raw_train.clone(), raw_test.clone());
        let (mean, std) = train.feature_stats();
        train.standardize_with(&mean, &std);
        test.standardize_with(&mean, &std);
        let (m, s) = train.feature_stats();
        assert!(m.iter().all(|v| v.abs() < 1e-4) && s.iter().all(|v| (v - 1.0).abs() < 1e-4));

        // Every test value is its raw value standardised with the statistics of the
        // raw *training* rows, recomputed here in f64.
        assert_eq!(test.labels, raw_test.labels);
        assert_eq!(test.len(), raw_test.len());
        let mut off_own_stats = 0.0f64;
        for j in 0..30 {
            let (mean_train, std_train) = column_stats(&raw_train.features, j);
            let (mean_test, std_test) = column_stats(&raw_test.features, j);
            for (row, (got, raw)) in test.features.iter().zip(&raw_test.features).enumerate() {
                let raw = f64::from(raw[j]);
                let expected = (raw - mean_train) / std_train;
                let got = f64::from(got[j]);
                assert!(
                    (got - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                    "test row {row}, column {j}: {got}, expected {expected}"
                );
                off_own_stats = off_own_stats.max((got - (raw - mean_test) / std_test).abs());
            }
        }
        // The test split's own statistics would give visibly other values, so the
        // check above tells the two apart.
        assert!(off_own_stats > 0.01, "{off_own_stats}");
    }

    #[test]
    fn client_data_keeps_examples_and_labels() {
        let d = Dataset {
            features: vec![[0.0], [1.0], [2.0]],
            labels: vec![1, 0, 1],
            num_classes: 2,
        };
        assert_eq!(
            d.to_client_data().examples(),
            &[([0.0], 1), ([1.0], 0), ([2.0], 1)]
        );
        let clients = d.clients(&[vec![2], vec![0, 1]]);
        assert_eq!(clients[0].examples(), &[([2.0], 1)]);
        assert_eq!(clients[1].examples(), &[([0.0], 1), ([1.0], 0)]);
        let binary = d.binary_clients(&[vec![1, 2]]);
        assert_eq!(binary[0].examples(), &[([1.0], [0.0]), ([2.0], [1.0])]);
        assert_eq!(d.to_binary_client_data().len(), 3);
    }
}
