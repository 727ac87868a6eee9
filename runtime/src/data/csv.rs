//! A user's data set from a CSV file: every column a feature but the label's.

use std::path::Path;
use std::str::FromStr;

use super::dataset::{check_label, checked_row};
use super::label::Label;
use super::{DataError, Dataset};
use crate::Result;

/// Which column holds the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelColumn {
    /// The column with this name in the header.
    Name(String),
    /// The column at this index, from 0.
    Index(usize),
    /// The last column (the default).
    Last,
}

impl FromStr for LabelColumn {
    type Err = std::convert::Infallible;

    /// A number is an index, anything else a name: `"4"`, `"species"`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s.parse() {
            Ok(index) => LabelColumn::Index(index),
            Err(_) => LabelColumn::Name(s.to_owned()),
        })
    }
}

/// How to read a CSV file: header or not, label column, delimiter, classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Whether the first line names the columns (default: yes).
    pub has_header: bool,
    /// The label's column (default: the last).
    pub label: LabelColumn,
    /// The field delimiter (default: `,`).
    pub delimiter: u8,
    /// Number of classes of class labels (default: the largest label plus one).
    pub num_classes: Option<usize>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            has_header: true,
            label: LabelColumn::Last,
            delimiter: b',',
            num_classes: None,
        }
    }
}

impl CsvOptions {
    /// The label's column.
    pub fn label(mut self, label: LabelColumn) -> Self {
        self.label = label;
        self
    }

    /// Whether the first line is a header.
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }

    /// The field delimiter, such as `b';'` or `b'\t'`.
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// The number of classes, when the file may not show the last one.
    pub fn num_classes(mut self, num_classes: usize) -> Self {
        self.num_classes = Some(num_classes);
        self
    }
}

/// Reads a data set of `N` features from the CSV file at `path`: every column but
/// the label's is a feature, in order. Labels are classes (`L = usize`: non-negative
/// integers) or one regression target (`L = [f32; 1]`).
///
/// ```
/// use feddx_runtime::data::{read_csv, CsvOptions, Dataset, LabelColumn};
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("plants.csv");
/// std::fs::write(&path, "height,width,species\n1.0,0.5,0\n2.0,1.5,1\n")?;
/// let options = CsvOptions::default().label(LabelColumn::Name("species".into()));
/// let data: Dataset<2> = read_csv(&path, &options)?;
/// assert_eq!((data.len(), data.num_classes), (2, 2));
///
/// std::fs::write(&path, "height,width,species\n1.0,x,0\n")?;
/// let err = read_csv::<2, usize>(&path, &options).unwrap_err().to_string();
/// assert!(err.ends_with("plants.csv, line 2: `x` in column `width` is not a number"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`DataError::Io`], [`DataError::EmptyCsv`], [`DataError::MissingLabelColumn`],
/// and [`DataError::CsvLine`] naming the file and the line of a row with another
/// number of fields, a field that is not a finite number, or a label that is not a
/// class below [`CsvOptions::num_classes`] (or not a finite target).
pub fn read_csv<const N: usize, L: Label>(
    path: impl AsRef<Path>,
    options: &CsvOptions,
) -> Result<Dataset<N, L>> {
    let (name, file) = open(path.as_ref())?;
    parse_csv(&name, file, options)
}

/// Like [`read_csv`], from any reader; `name` stands for the file in errors.
///
/// # Errors
/// As [`read_csv`].
pub fn parse_csv<const N: usize, L: Label>(
    name: &str,
    reader: impl std::io::Read,
    options: &CsvOptions,
) -> Result<Dataset<N, L>> {
    let mut csv = csv_reader(reader, options);
    let line_error = |line: u64, reason: String| line_error(name, line, reason);
    let header: Option<Vec<String>> = if options.has_header {
        let header = csv.headers().map_err(|e| line_error(1, e.to_string()))?;
        Some(header.iter().map(str::to_owned).collect())
    } else {
        None
    };

    let (mut rows, mut labels, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    let mut label_index = None;
    for record in records(name, &mut csv) {
        let (line, record) = record?;
        let width = record.len();
        let label_at = match label_index {
            Some(i) => i,
            None => {
                let i = label_column(name, &options.label, header.as_deref(), width)?;
                label_index = Some(i);
                i
            }
        };
        if width != N + 1 {
            return Err(line_error(
                line,
                format!(
                    "{width} fields, expected {} ({N} features and the label)",
                    N + 1
                ),
            )
            .into());
        }
        let column_name = |i: usize| match &header {
            Some(h) => format!("`{}`", h[i]),
            None => format!("{i}"),
        };
        let mut features = Vec::with_capacity(N);
        for (i, field) in record.iter().enumerate().filter(|(i, _)| *i != label_at) {
            let value: f32 = field.parse().map_err(|_| {
                line_error(
                    line,
                    format!("`{field}` in column {} is not a number", column_name(i)),
                )
            })?;
            features.push(value);
        }
        let field = &record[label_at];
        let label = L::parse(field).ok_or_else(|| {
            line_error(
                line,
                format!("label `{field}` is not {}", expected_label::<L>()),
            )
        })?;
        rows.push(
            checked_row::<N>(rows.len(), &features).map_err(|e| line_error(line, row_reason(e)))?,
        );
        labels.push(label);
        lines.push(line);
    }
    if rows.is_empty() {
        return Err(DataError::EmptyCsv {
            path: name.to_owned(),
        }
        .into());
    }
    let num_classes = match labels.first().and_then(Label::class) {
        None => 0,
        Some(_) => options.num_classes.unwrap_or_else(|| {
            labels
                .iter()
                .filter_map(Label::class)
                .max()
                .map_or(0, |m| m + 1)
        }),
    };
    for ((label, &line), row) in labels.iter().zip(&lines).zip(0..) {
        check_label(row, label, num_classes).map_err(|e| line_error(line, row_reason(e)))?;
    }
    Ok(Dataset {
        features: rows,
        labels,
        num_classes,
    })
}

/// Reads rows of `N` features, no label, from the CSV file at `path` (the rows to
/// predict): `has_header` and `delimiter` as in [`CsvOptions`].
///
/// # Errors
/// [`DataError::Io`], [`DataError::EmptyCsv`], and [`DataError::CsvLine`] for a row
/// with another number of fields or a field that is not a finite number.
pub fn read_features<const N: usize>(
    path: impl AsRef<Path>,
    options: &CsvOptions,
) -> Result<Vec<[f32; N]>> {
    let (name, file) = open(path.as_ref())?;
    let mut csv = csv_reader(file, options);
    let mut rows = Vec::new();
    for record in records(&name, &mut csv) {
        let (line, record) = record?;
        let values = record
            .iter()
            .enumerate()
            .map(|(i, field)| number(&name, line, field, &i.to_string()))
            .collect::<Result<Vec<f32>, DataError>>()?;
        let row = checked_row::<N>(rows.len(), &values)
            .map_err(|e| line_error(&name, line, row_reason(e)))?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(DataError::EmptyCsv { path: name }.into());
    }
    Ok(rows)
}

/// The file at `path`, and its name for errors.
fn open(path: &Path) -> Result<(String, std::fs::File), DataError> {
    let name = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(file) => Ok((name, file)),
        Err(e) => Err(DataError::Io {
            path: name,
            reason: e.to_string(),
        }),
    }
}

/// A CSV reader with `options`, trimming spaces around fields.
fn csv_reader<R: std::io::Read>(reader: R, options: &CsvOptions) -> ::csv::Reader<R> {
    ::csv::ReaderBuilder::new()
        .has_headers(options.has_header)
        .delimiter(options.delimiter)
        .trim(::csv::Trim::All)
        .from_reader(reader)
}

/// The records of `csv`, each with its line, or the error of the line that is not one.
fn records<'a, R: std::io::Read>(
    name: &'a str,
    csv: &'a mut ::csv::Reader<R>,
) -> impl Iterator<Item = Result<(u64, ::csv::StringRecord), DataError>> + 'a {
    let line_of = |p: Option<&::csv::Position>| p.map_or(0, ::csv::Position::line);
    csv.records().map(move |record| match record {
        Ok(r) => Ok((line_of(r.position()), r)),
        Err(e) => Err(line_error(name, line_of(e.position()), csv_reason(&e))),
    })
}

/// A field of column `column` as a number.
fn number(name: &str, line: u64, field: &str, column: &str) -> Result<f32, DataError> {
    field.parse().map_err(|_| {
        line_error(
            name,
            line,
            format!("`{field}` in column {column} is not a number"),
        )
    })
}

fn line_error(name: &str, line: u64, reason: String) -> DataError {
    DataError::CsvLine {
        path: name.to_owned(),
        line,
        reason,
    }
}

/// The label column's index in rows of `width` fields.
fn label_column(
    name: &str,
    label: &LabelColumn,
    header: Option<&[String]>,
    width: usize,
) -> Result<usize, DataError> {
    let missing = |column: String| DataError::MissingLabelColumn {
        path: name.to_owned(),
        columns: match header {
            Some(h) => h
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            None => format!("0..{width} (no header)"),
        },
        column,
    };
    match label {
        LabelColumn::Last => width.checked_sub(1).ok_or_else(|| missing("last".into())),
        LabelColumn::Index(i) if *i < width => Ok(*i),
        LabelColumn::Index(i) => Err(missing(i.to_string())),
        LabelColumn::Name(n) => header
            .and_then(|h| h.iter().position(|c| c == n))
            .ok_or_else(|| missing(n.clone())),
    }
}

/// What a label must be.
fn expected_label<L: Label>() -> &'static str {
    if L::parse("0").and_then(|l| l.class()).is_some() {
        "a class (a non-negative integer)"
    } else {
        "a number"
    }
}

/// A row problem without its row number (the line says where).
fn row_reason(e: DataError) -> String {
    match e {
        DataError::RaggedRow { len, expected, .. } => {
            format!("{len} features, expected {expected}")
        }
        DataError::NonFiniteFeature { column, value, .. } => {
            format!("feature {column} is {value}, not a finite number")
        }
        DataError::LabelOutOfRange { label, classes, .. } => {
            format!("label {label} is not a class in 0..{classes}")
        }
        DataError::NonFiniteTarget { value, .. } => {
            format!("target {value} is not a finite number")
        }
        other => other.to_string(),
    }
}

/// The csv crate's error without its own position (the line says where).
fn csv_reason(e: &::csv::Error) -> String {
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields, but the first row has {expected_len}")
        }
        ::csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeddxError;

    fn parse<L: Label>(text: &str, options: &CsvOptions) -> Result<Dataset<2, L>> {
        parse_csv("data.csv", text.as_bytes(), options)
    }

    fn data_error<T: std::fmt::Debug>(r: Result<T>) -> DataError {
        match r {
            Err(FeddxError::InvalidData(e)) => e,
            other => panic!("expected a data error, got {other:?}"),
        }
    }

    #[test]
    fn classes_and_targets_by_name_index_or_last() {
        let text = "a,y,b\n1,2,3\n4,0,6\n";
        let by_name = CsvOptions::default().label(LabelColumn::Name("y".into()));
        let d: Dataset<2> = parse(text, &by_name).unwrap();
        assert_eq!(d.features, [[1.0, 3.0], [4.0, 6.0]]);
        assert_eq!((d.labels.as_slice(), d.num_classes), ([2, 0].as_slice(), 3));
        let by_index = CsvOptions::default().label("1".parse().unwrap());
        assert_eq!(parse::<usize>(text, &by_index).unwrap(), d);
        let last: Dataset<2, [f32; 1]> = parse(text, &CsvOptions::default()).unwrap();
        assert_eq!(last.labels, [[3.0], [6.0]]);
        assert_eq!(last.num_classes, 0);
        let semicolons = CsvOptions::default().has_header(false).delimiter(b';');
        let d: Dataset<2> = parse("1;2;0\n3;4;1\n", &semicolons).unwrap();
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn every_bad_line_is_named() {
        let o = CsvOptions::default();
        let e = data_error(parse::<usize>("a,b,y\n1,2,0\n1,x,0\n", &o));
        assert_eq!(
            e.to_string(),
            "data.csv, line 3: `x` in column `b` is not a number"
        );
        let e = data_error(parse::<usize>("a,b,y\n1,2,0\n1,2\n", &o));
        assert_eq!(
            e.to_string(),
            "data.csv, line 3: 2 fields, but the first row has 3"
        );
        let e = data_error(parse::<usize>("a,b,c,y\n1,2,3,0\n", &o));
        assert!(
            e.to_string().contains("line 2: 4 fields, expected 3"),
            "{e}"
        );
        let e = data_error(parse::<usize>("a,b,y\n1,NaN,0\n", &o));
        assert_eq!(
            e.to_string(),
            "data.csv, line 2: feature 1 is NaN, not a finite number"
        );
        let e = data_error(parse::<usize>("a,b,y\n1,2,-1\n", &o));
        assert!(e.to_string().contains("label `-1` is not a class"), "{e}");
        let e = data_error(parse::<usize>("a,b,y\n1,2,3\n", &o.clone().num_classes(3)));
        assert_eq!(
            e.to_string(),
            "data.csv, line 2: label 3 is not a class in 0..3"
        );
        let e = data_error(parse::<[f32; 1]>("a,b,y\n1,2,inf\n", &o));
        assert_eq!(
            e.to_string(),
            "data.csv, line 2: target inf is not a finite number"
        );
    }

    #[test]
    fn empty_files_and_missing_columns() {
        let o = CsvOptions::default();
        assert_eq!(
            data_error(parse::<usize>("a,b,y\n", &o)),
            DataError::EmptyCsv {
                path: "data.csv".into()
            }
        );
        assert_eq!(
            data_error(parse::<usize>("", &o)),
            DataError::EmptyCsv {
                path: "data.csv".into()
            }
        );
        let named = o.clone().label(LabelColumn::Name("label".into()));
        let e = data_error(parse::<usize>("a,b,y\n1,2,0\n", &named));
        assert_eq!(
            e.to_string(),
            "data.csv: no label column `label`; the columns are `a`, `b`, `y`"
        );
        let e = data_error(parse::<usize>(
            "1,2,0\n",
            &o.has_header(false).label(LabelColumn::Index(3)),
        ));
        assert_eq!(
            e.to_string(),
            "data.csv: no label column `3`; the columns are 0..3 (no header)"
        );
        let e = read_csv::<2, usize>("/nonexistent/data.csv", &CsvOptions::default()).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/data.csv: "), "{e}");
    }
}
