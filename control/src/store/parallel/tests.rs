//! The parallel loader against the sequential reference, cut at every possible size.

use super::*;

const POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: NAME, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.1/32}}]
    ports: [{protocol: UDP, port: 9000, endPort: 9999}]
";

/// A stream exercising what the cut must respect: comments before the first marker, a marker
/// with content on its line, empty documents, a List, a skipped kind, and block scalars
/// holding indented `---` lines.
fn mixed_stream() -> String {
    let mut text = String::from("# leading comment\n\n---\n");
    for i in 0..6 {
        text.push_str(&POLICY.replace("NAME", &format!("p{i}")));
        text.push_str("---\n");
    }
    text.push_str("---\n"); // an empty document
    text.push_str(
        "--- {apiVersion: v1, kind: Namespace, metadata: {name: y, annotations: {note: \"a\\n---\\nb\"}}}\n",
    );
    text.push_str(
        "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: z\n  annotations:\n    text: |\n      ---\n      not a marker\n",
    );
    text.push_str("---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n");
    text.push_str("---\napiVersion: v1\nkind: List\nitems:\n");
    for i in 0..3 {
        text.push_str(&format!(
            "- {{apiVersion: v1, kind: Namespace, metadata: {{name: l{i}}}}}\n"
        ));
    }
    for i in 6..9 {
        text.push_str("---\n");
        text.push_str(&POLICY.replace("NAME", &format!("p{i}")));
    }
    text.push_str("---\n");
    text
}

fn sequential(files: &[(&Path, &str)]) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded::default();
    for (file, text) in files {
        load_text_sequential(file, text, &mut loaded)?;
    }
    Ok(loaded)
}

fn parallel(files: &[(&Path, &str)], target: usize) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded::default();
    for part in load_files_with(files, 3, target)? {
        loaded.objects.extend(part.objects);
        loaded.skipped.extend(part.skipped);
    }
    Ok(loaded)
}

/// Everything a caller can see of a load, as text.
fn render(result: &Result<Loaded, StoreError>) -> String {
    match result {
        Ok(loaded) => format!("{:?}\n{:?}", loaded.objects, loaded.skipped),
        Err(e) => format!("error: {e}"),
    }
}

fn assert_same_at_every_cut(files: &[(&Path, &str)]) {
    let expected = render(&sequential(files));
    let longest = files.iter().map(|(_, t)| t.len()).max().unwrap_or(0);
    for target in [0, 1, 7, 50, 200, 400, 1000, longest + 1] {
        assert_eq!(
            render(&parallel(files, target)),
            expected,
            "target {target}"
        );
    }
}

#[test]
fn cut_streams_load_like_one() {
    let text = mixed_stream();
    let expected = sequential(&[(Path::new("a.yaml"), &text)]).expect("valid");
    assert_eq!(
        expected.objects.len(),
        9 + 2 + 3,
        "the fixture loads what it should"
    );
    assert_eq!(expected.skipped.len(), 1);
    assert!(split_batches(&text, 0).len() > 10, "the fixture is cut");
    assert_same_at_every_cut(&[(Path::new("a.yaml"), &text)]);
}

#[test]
fn several_files_keep_their_order_and_numbering() {
    let a = mixed_stream();
    let b = format!(
        "{}---\n{}",
        POLICY.replace("NAME", "q1"),
        POLICY.replace("NAME", "q2")
    );
    let c = r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}}"#;
    assert_same_at_every_cut(&[
        (Path::new("a.yaml"), &a),
        (Path::new("b.yml"), &b),
        (Path::new("c.json"), c),
    ]);
}

#[test]
fn errors_are_the_sequential_ones() {
    let good = mixed_stream();
    let bad_field = POLICY
        .replace("NAME", "bad")
        .replace("endPort: 9999", "endPort: 9999, bogus: 1");
    let bad_syntax = "apiVersion: v1\nkind: Namespace\nmetadata: {name: [unclosed\n";
    for bad in [bad_field.as_str(), bad_syntax] {
        let text = format!("{good}{bad}---\n{good}");
        let files = [(Path::new("a.yaml"), text.as_str())];
        assert!(sequential(&files).is_err());
        assert_same_at_every_cut(&files);
        // The first failing file decides, however the batches finish.
        let files = [
            (Path::new("a.yaml"), good.as_str()),
            (Path::new("b.yaml"), text.as_str()),
            (Path::new("c.yaml"), text.as_str()),
        ];
        assert!(render(&sequential(&files)).contains("b.yaml"));
        assert_same_at_every_cut(&files);
    }
}

#[test]
fn directives_and_end_markers_are_not_cut() {
    let policy = POLICY.replace("NAME", "p");
    let with_directive = format!("{policy}---\n{policy}...\n%YAML 1.2\n---\n{policy}");
    assert_eq!(
        split_batches(&with_directive, 0),
        vec![with_directive.as_str()]
    );
    let with_end = format!("{policy}---\n{policy}...\n---\n{policy}");
    assert_eq!(split_batches(&with_end, 0), vec![with_end.as_str()]);
    assert_same_at_every_cut(&[(Path::new("a.yaml"), &with_end)]);
}

#[test]
fn pieces_start_at_markers_and_cover_the_text() {
    let text = mixed_stream();
    for target in [0, 30, 300] {
        let pieces = split_batches(&text, target);
        assert_eq!(pieces.concat(), text);
        for piece in &pieces[1..] {
            assert!(piece.starts_with("---"), "{piece:?}");
        }
    }
    // Comments alone never make a piece.
    let commented = format!("# only a comment\n---\n{POLICY}---\n{POLICY}");
    let pieces = split_batches(&commented, 0);
    assert_eq!(pieces.len(), 2);
    assert!(pieces[0].contains("kind:"));
}
