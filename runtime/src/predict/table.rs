//! [`Predictions`] printed as a table: a line saying what each output holds, then
//! one line per row.

use std::fmt;

use super::values::{OutputValues, Predictions};

/// Rows printed by `{}`; `{:#}` prints every row.
pub const SHOWN_ROWS: usize = 10;

/// Values of a wider output printed in a cell, before `…`.
const SHOWN_VALUES: usize = 4;

/// A line saying how many rows and what each output holds, then a table of the
/// rows: the row's index, then for each output its value (one value a row) or its
/// values in brackets (the first four, then how many more) and the index of the
/// largest (`argmax`, the class of a classifier). `{}` prints the first
/// [`SHOWN_ROWS`] rows and says how many more there are; `{:#}` prints them all.
/// Values have four decimals.
impl fmt::Display for Predictions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outputs = self.outputs();
        let about: Vec<String> = outputs.iter().map(describe).collect();
        writeln!(f, "{} rows; {}", self.rows(), about.join(", "))?;
        let shown = if f.alternate() {
            self.rows()
        } else {
            self.rows().min(SHOWN_ROWS)
        };
        let mut columns: Vec<Vec<String>> = Vec::with_capacity(outputs.len() + 1);
        columns.push(
            std::iter::once("row".to_owned())
                .chain((0..shown).map(|i| i.to_string()))
                .collect(),
        );
        for output in outputs {
            columns.push(
                std::iter::once(output.name().to_owned())
                    .chain(output.iter_rows().take(shown).map(cell))
                    .collect(),
            );
        }
        let widths: Vec<usize> = columns
            .iter()
            .map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0))
            .collect();
        for line in 0..=shown {
            let cells: Vec<String> = columns
                .iter()
                .zip(&widths)
                .map(|(column, &width)| format!("{:>width$}", column[line]))
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())?;
        }
        let hidden = self.rows() - shown;
        if hidden > 0 {
            writeln!(f, "… {hidden} more rows (`{{:#}}` prints them all)")?;
        }
        Ok(())
    }
}

/// `name: 3 values a row`, with `(probabilities)` when they are.
fn describe(output: &OutputValues) -> String {
    let values = if output.width() == 1 {
        "1 value a row".to_owned()
    } else {
        format!("{} values a row", output.width())
    };
    let kind = if output.are_probabilities() {
        " (probabilities)"
    } else {
        ""
    };
    format!("{}: {values}{kind}", output.name())
}

/// One row of one output: `0.2500`, or `[0.1000, 2.5000, -1.0000] argmax 1`.
fn cell(row: &[f32]) -> String {
    if let [value] = row {
        return format!("{value:.4}");
    }
    let mut shown: Vec<String> = row
        .iter()
        .take(SHOWN_VALUES)
        .map(|v| format!("{v:.4}"))
        .collect();
    if row.len() > SHOWN_VALUES {
        shown.push(format!("… +{}", row.len() - SHOWN_VALUES));
    }
    format!(
        "[{}] argmax {}",
        shown.join(", "),
        super::values::argmax(row)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["class", "flag"];

    fn rows(n: usize) -> Predictions {
        let class = (0..n).flat_map(|i| [0.1, i as f32, -1.0]).collect();
        let flag = (0..n).map(|i| 0.25 - i as f32).collect();
        Predictions::new(
            NAMES,
            vec![
                OutputValues::logits("class", 3, n, class),
                OutputValues::logits("flag", 1, n, flag),
            ],
        )
    }

    #[test]
    fn a_table_of_the_rows_with_what_each_output_holds() {
        assert_eq!(
            rows(3).to_string(),
            "3 rows; class: 3 values a row, flag: 1 value a row\n\
             row                               class     flag\n  \
               0  [0.1000, 0.0000, -1.0000] argmax 0   0.2500\n  \
               1  [0.1000, 1.0000, -1.0000] argmax 1  -0.7500\n  \
               2  [0.1000, 2.0000, -1.0000] argmax 1  -1.7500\n"
        );
    }

    #[test]
    fn long_predictions_show_their_first_rows_unless_alternate() {
        let p = rows(25);
        let short = p.to_string();
        assert_eq!(short.lines().count(), 2 + SHOWN_ROWS + 1, "{short}");
        assert!(
            short.ends_with("… 15 more rows (`{:#}` prints them all)\n"),
            "{short}"
        );
        let all = format!("{p:#}");
        assert_eq!(all.lines().count(), 2 + 25, "{all}");
        assert!(all.lines().last().unwrap().contains("-23.7500"), "{all}");
    }

    #[test]
    fn wide_outputs_are_cut_and_probabilities_said() {
        let wide = OutputValues::logits("digit", 10, 1, (0..10).map(|k| k as f32).collect());
        let p = Predictions::new(&["digit"], vec![wide.probabilities()]);
        let text = p.to_string();
        assert!(
            text.starts_with("1 rows; digit: 10 values a row (probabilities)\n"),
            "{text}"
        );
        assert!(text.contains(", … +6] argmax 9"), "{text}");
    }
}
