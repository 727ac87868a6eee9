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
    /// Number of classes of class labels. Unset (the default), it is inferred as
    /// the largest label plus one, and bounded by the number of data rows: a label
    /// at or above the row count is an error naming its line, so that a stray
    /// `1000000000000` cannot make a data set of a trillion classes. Give it when the
    /// file holds fewer rows than classes.
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

    /// The number of classes, when the file may not show the last one, or holds
    /// fewer rows than classes (an inferred class count is at most the row count).
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
/// and [`DataError::CsvLine`] naming the file, the line and the column of a row
/// with another number of fields, a field that is not a finite number, or a label
/// that is not a class (a non-negative integer: `-1`, `3.5` and `1e12` are not)
/// below [`CsvOptions::num_classes`] (or not a finite target). Without
/// `num_classes`, a class at or above the number of data rows is such an error too:
/// the inferred class count is at most the row count.
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
        let header = csv.headers().map_err(|e| line_error(1, csv_reason(&e)))?;
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
        let column_name = |i: usize| column_name(header.as_deref(), i);
        let mut features = Vec::with_capacity(N);
        for (i, field) in record.iter().enumerate().filter(|(i, _)| *i != label_at) {
            features.push(number(name, line, field, &column_name(i))?);
        }
        let field = &record[label_at];
        let label = L::parse(field).ok_or_else(|| {
            line_error(
                line,
                format!(
                    "label `{field}` in column {} is not {}",
                    column_name(label_at),
                    expected_label::<L>()
                ),
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
    let num_classes = match (labels.first().and_then(Label::class), options.num_classes) {
        (None, _) => 0,
        (Some(_), Some(given)) => given,
        (Some(_), None) => {
            let column = column_name(header.as_deref(), label_index.unwrap_or(0));
            inferred_classes(&labels, &lines, &column)
                .map_err(|(line, reason)| line_error(line, reason))?
        }
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
/// [`DataError::Io`] for a file that cannot be opened or read,
/// [`DataError::EmptyCsv`] for one without data rows, and [`DataError::CsvLine`],
/// naming the file and the line, for a row of another width than the first, of
/// other than `N` fields, with a field that is not a number (with its column), with
/// a NaN or infinite feature, or that is not UTF-8.
pub fn read_features<const N: usize>(
    path: impl AsRef<Path>,
    options: &CsvOptions,
) -> Result<Vec<[f32; N]>> {
    let (name, file) = open(path.as_ref())?;
    parse_features(&name, file, options)
}

/// Like [`read_features`], from any reader; `name` stands for the file in errors.
///
/// # Errors
/// As [`read_features`].
pub fn parse_features<const N: usize>(
    name: &str,
    reader: impl std::io::Read,
    options: &CsvOptions,
) -> Result<Vec<[f32; N]>> {
    let mut csv = csv_reader(reader, options);
    let header: Option<Vec<String>> = if options.has_header {
        let header = csv
            .headers()
            .map_err(|e| line_error(name, 1, csv_reason(&e)))?;
        Some(header.iter().map(str::to_owned).collect())
    } else {
        None
    };
    let mut rows = Vec::new();
    for record in records(name, &mut csv) {
        let (line, record) = record?;
        let values = record
            .iter()
            .enumerate()
            .map(|(i, field)| number(name, line, field, &column_name(header.as_deref(), i)))
            .collect::<Result<Vec<f32>, DataError>>()?;
        let row = checked_row::<N>(rows.len(), &values)
            .map_err(|e| line_error(name, line, row_reason(e)))?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(DataError::EmptyCsv {
            path: name.to_owned(),
        }
        .into());
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

/// The class count of `labels` (read from `lines`, in `column`): the largest class
/// plus one, at most the number of labels.
///
/// # Errors
/// The line of the first class at or above the number of labels, and why.
fn inferred_classes<L: Label>(
    labels: &[L],
    lines: &[u64],
    column: &str,
) -> Result<usize, (u64, String)> {
    let rows = labels.len();
    let mut classes = 0;
    for (label, &line) in labels.iter().zip(lines) {
        let Some(class) = label.class() else { continue };
        if class >= rows {
            return Err((
                line,
                format!(
                    "label {class} in column {column} is not below {rows}, the number of \
                     rows: an inferred class count is at most the row count; give the \
                     class count (`CsvOptions::num_classes`) for more classes"
                ),
            ));
        }
        // `class < rows`, so `class + 1` does not overflow.
        classes = classes.max(class + 1);
    }
    Ok(classes)
}

/// Column `i` for messages: `` `name` `` from the header, else its index.
fn column_name(header: Option<&[String]>, i: usize) -> String {
    match header.and_then(|h| h.get(i)) {
        Some(name) => format!("`{name}`"),
        None => i.to_string(),
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
        let text = "a,y,b\n1,2,3\n4,0,6\n7,0,9\n";
        let by_name = CsvOptions::default().label(LabelColumn::Name("y".into()));
        let d: Dataset<2> = parse(text, &by_name).unwrap();
        assert_eq!(d.features, [[1.0, 3.0], [4.0, 6.0], [7.0, 9.0]]);
        assert_eq!(
            (d.labels.as_slice(), d.num_classes),
            ([2, 0, 0].as_slice(), 3)
        );
        let by_index = CsvOptions::default().label("1".parse().unwrap());
        assert_eq!(parse::<usize>(text, &by_index).unwrap(), d);
        let last: Dataset<2, [f32; 1]> = parse(text, &CsvOptions::default()).unwrap();
        assert_eq!(last.labels, [[3.0], [6.0], [9.0]]);
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
        assert!(
            e.to_string()
                .contains("label `-1` in column `y` is not a class"),
            "{e}"
        );
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
    fn labels_that_are_not_classes_are_errors_naming_line_and_column() {
        let o = CsvOptions::default();
        for label in ["1e12", "-1", "3.5", "18446744073709551616", "x", ""] {
            let text = format!("a,b,y\n1,2,0\n1,2,{label}\n");
            let e = data_error(parse::<usize>(&text, &o));
            assert_eq!(
                e.to_string(),
                format!(
                    "data.csv, line 3: label `{label}` in column `y` is not a class (a non-negative integer)"
                )
            );
        }
        let no_header = o.clone().has_header(false).label(LabelColumn::Index(0));
        let e = data_error(parse::<usize>("0,1,2\n2.5,1,2\n", &no_header));
        assert_eq!(
            e.to_string(),
            "data.csv, line 2: label `2.5` in column 0 is not a class (a non-negative integer)"
        );
    }

    #[test]
    fn an_inferred_class_count_is_at_most_the_row_count() {
        let o = CsvOptions::default();
        // A class that parses but is not below the 3 rows: the largest usize, and
        // one that would ask for a trillion classes. Neither overflows nor allocates.
        for label in ["18446744073709551615", "1000000000000", "3"] {
            let text = format!("a,b,y\n1,2,0\n1,2,{label}\n1,2,1\n");
            let e = data_error(parse::<usize>(&text, &o));
            assert_eq!(
                e.to_string(),
                format!(
                    "data.csv, line 3: label {label} in column `y` is not below 3, the number \
                     of rows: an inferred class count is at most the row count; give the class \
                     count (`CsvOptions::num_classes`) for more classes"
                )
            );
        }
        // Up to one class per row is inferred.
        let d: Dataset<2> = parse("a,b,y\n1,2,0\n1,2,2\n1,2,1\n", &o).unwrap();
        assert_eq!(d.num_classes, 3);
        let d: Dataset<2> = parse("a,b,y\n1,2,2\n1,2,0\n1,2,0\n", &o).unwrap();
        assert_eq!(d.num_classes, 3);
        // A given class count is the caller's: more classes than rows, or the largest
        // usize (no `+ 1` is taken of it), checked label by label.
        let given = o.clone().num_classes(5);
        let d: Dataset<2> = parse("a,b,y\n1,2,4\n", &given).unwrap();
        assert_eq!((d.num_classes, d.labels.as_slice()), (5, [4].as_slice()));
        let all = o.clone().num_classes(usize::MAX);
        let d: Dataset<2> = parse("a,b,y\n1,2,1000000000000\n", &all).unwrap();
        assert_eq!(d.num_classes, usize::MAX);
        let e = data_error(parse::<usize>("a,b,y\n1,2,18446744073709551615\n", &all));
        assert_eq!(
            e.to_string(),
            "data.csv, line 2: label 18446744073709551615 is not a class in 0..18446744073709551615"
        );
        // Regression targets have no classes to infer: `1e12` is a number.
        let d: Dataset<2, [f32; 1]> = parse("a,b,y\n1,2,1e12\n", &o).unwrap();
        assert_eq!((d.num_classes, d.labels[0]), (0, [1e12]));
    }

    /// `read_features` of `text` in a file `features.csv`, and the file's name.
    fn features<const N: usize>(
        text: &[u8],
        options: &CsvOptions,
    ) -> (Result<Vec<[f32; N]>>, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.csv");
        std::fs::write(&path, text).unwrap();
        (read_features(&path, options), path.display().to_string())
    }

    #[test]
    fn read_features_reads_rows_with_or_without_header() {
        let (rows, _) = features::<2>(b"a,b\n1,2\n 3 , -4.5e1\n", &CsvOptions::default());
        assert_eq!(rows.unwrap(), [[1.0, 2.0], [3.0, -45.0]]);
        let tabs = CsvOptions::default().has_header(false).delimiter(b'\t');
        let (rows, _) = features::<3>(b"1\t2\t3\n", &tabs);
        assert_eq!(rows.unwrap(), [[1.0, 2.0, 3.0]]);
    }

    #[test]
    fn every_read_features_error_is_typed_and_names_its_line() {
        let o = CsvOptions::default();
        let no_header = o.clone().has_header(false);
        let line_cases: [(&[u8], &CsvOptions, &str); 9] = [
            // Another width than the model's, at the first row or a later one.
            (b"a,b,c\n1,2,3\n", &o, "line 2: 3 features, expected 2"),
            (b"1\n", &no_header, "line 1: 1 features, expected 2"),
            // Another width than the first row (the csv reader's check).
            (
                b"a,b\n1,2\n1,2,3\n",
                &o,
                "line 3: 3 fields, but the first row has 2",
            ),
            // Not a number, named by its column's header or index.
            (
                b"a,b\n1,2\n1,x\n",
                &o,
                "line 3: `x` in column `b` is not a number",
            ),
            (
                b"1,\n",
                &no_header,
                "line 1: `` in column 1 is not a number",
            ),
            // NaN and infinities parse as numbers but are not finite features.
            (
                b"a,b\nNaN,2\n",
                &o,
                "line 2: feature 0 is NaN, not a finite number",
            ),
            (
                b"a,b\n1,inf\n",
                &o,
                "line 2: feature 1 is inf, not a finite number",
            ),
            (
                b"a,b\n1,-inf\n",
                &o,
                "line 2: feature 1 is -inf, not a finite number",
            ),
            // Bytes that are not UTF-8.
            (b"a,b\n1,\xff\n", &o, "line 2: not valid UTF-8"),
        ];
        for (text, options, reason) in line_cases {
            let (result, path) = features::<2>(text, options);
            let e = data_error(result);
            assert!(matches!(e, DataError::CsvLine { .. }), "{e:?}");
            assert_eq!(e.to_string(), format!("{path}, {reason}"));
        }
        // No data rows: an empty file, a header alone, blank lines.
        for (text, options) in [(&b""[..], &o), (b"a,b\n", &o), (b"\n\n", &no_header)] {
            let (result, path) = features::<2>(text, options);
            let e = data_error(result);
            assert_eq!(e, DataError::EmptyCsv { path: path.clone() });
            assert_eq!(e.to_string(), format!("{path}: no data rows"));
        }
        // A file that cannot be opened.
        let e = data_error(read_features::<2>("/nonexistent/features.csv", &o));
        assert!(matches!(e, DataError::Io { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("/nonexistent/features.csv: No such file"),
            "{e}"
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
