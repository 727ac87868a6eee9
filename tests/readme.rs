//! The README's code is the doc tests' code: its "Your own data" snippet is, line for
//! line, the doc test of `src/lib.rs` under the same heading without the lines
//! hidden by `#`, and every line of its training snippet is a line of the doc test
//! under "Training across clients". The doc tests compile and run the code, so the
//! README cannot show code that does not build.

/// The code of the first ```` ```rust ```` block after the heading `heading` of
/// the README.
fn readme_block(heading: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find(heading).expect("the README's heading")..];
    let start = section.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = start + section[start..].find("\n```\n").expect("the block's end");
    section[start..end].lines().map(str::to_owned).collect()
}

/// The visible lines of the first doc test after the heading `heading` of the crate
/// docs in `src/lib.rs`: without `//! `, and without the lines `#` hides.
fn doc_test(heading: &str) -> Vec<String> {
    let lib = include_str!("../src/lib.rs");
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let from = docs
        .iter()
        .position(|l| *l == format!("## {heading}"))
        .expect("the crate docs' heading");
    let open = from + docs[from..].iter().position(|l| *l == "```").unwrap();
    let close = open + 1 + docs[open + 1..].iter().position(|l| *l == "```").unwrap();
    docs[open + 1..close]
        .iter()
        .filter(|l| !(l.starts_with("# ") || **l == "#"))
        .map(|l| (*l).to_owned())
        .collect()
}

/// `line` without a trailing `// comment` and the spaces before it.
fn without_comment(line: &str) -> &str {
    line.split("  //").next().unwrap_or(line).trim_end()
}

#[test]
fn the_own_data_snippet_is_the_doc_test() {
    let readme = readme_block("## Your own data");
    assert!(readme.iter().any(|l| l.contains("read_features(")));
    assert!(readme.iter().any(|l| l.contains("r.eval")));
    assert_eq!(readme, doc_test("Your own data"));
}

#[test]
fn every_line_of_the_training_snippet_is_in_the_doc_test() {
    let readme = readme_block("Training a model across clients");
    let doc = doc_test("Training across clients");
    let doc: Vec<&str> = doc.iter().map(|l| without_comment(l)).collect();
    for line in readme.iter().map(|l| without_comment(l)) {
        assert!(
            line.is_empty() || doc.contains(&line),
            "the README's `{line}` is not in the doc test"
        );
    }
}
