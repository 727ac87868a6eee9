//! What can be wrong with a user's data: each problem typed, with the row or line
//! where it is.

use thiserror::Error;

/// A data set that cannot be built: rows, labels or a CSV file that do not fit.
///
/// Rows are numbered from 0 (as indices of the vectors passed in), CSV lines from 1
/// (as an editor shows them; the header, if any, is line 1).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DataError {
    /// Synthetic(alpha, beta) parameters that do not describe a population.
    #[error("invalid Synthetic(alpha, beta): {reason}")]
    InvalidSynthetic {
        /// What is wrong, with the value.
        reason: String,
    },
    /// A row of features does not have the model's number of features.
    #[error("row {row} has {len} features, expected {expected}")]
    RaggedRow {
        /// The row.
        row: usize,
        /// Features it has.
        len: usize,
        /// Features each row must have.
        expected: usize,
    },
    /// A feature is NaN or infinite.
    #[error("row {row}, feature {column}: {value} is not a finite number")]
    NonFiniteFeature {
        /// The row.
        row: usize,
        /// The feature's index in the row.
        column: usize,
        /// The value.
        value: f32,
    },
    /// A class label is not below the number of classes.
    #[error("row {row}: label {label} is not a class in 0..{classes}")]
    LabelOutOfRange {
        /// The row.
        row: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A regression target is NaN or infinite.
    #[error("row {row}: target {value} is not a finite number")]
    NonFiniteTarget {
        /// The row.
        row: usize,
        /// The value.
        value: f32,
    },
    /// Features and labels do not have one entry per example each.
    #[error("{features} rows of features but {labels} labels")]
    LengthMismatch {
        /// Rows of features.
        features: usize,
        /// Labels.
        labels: usize,
    },
    /// A file cannot be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// A CSV file has no data rows.
    #[error("{path}: no data rows")]
    EmptyCsv {
        /// The file.
        path: String,
    },
    /// The label column named or numbered is not in the file.
    #[error("{path}: no label column `{column}`; the columns are {columns}")]
    MissingLabelColumn {
        /// The file.
        path: String,
        /// The column asked for.
        column: String,
        /// The columns there are (names, or the count without a header).
        columns: String,
    },
    /// A line of a CSV file that cannot be used.
    #[error("{path}, line {line}: {reason}")]
    CsvLine {
        /// The file.
        path: String,
        /// The line, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
}
