//! Tokenizer and parser for the selector language (SEMANTICS.md §7).
//!
//! The tokenizer follows upstream's (`libcalico-go/lib/selector/tokenizer/tokenizer.go`) decisions
//! token for token: what it produces depends only on the text and on whether the previous token
//! was a label. It runs lazily, one token ahead of the parser, so the first problem in reading
//! order is the one reported, and the parser can say what it expected at that point. Whether an
//! input is accepted is the same as upstream's tokenize-everything-then-parse.

use std::collections::BTreeSet;

use super::ast::Expr;

/// Longest label name accepted (upstream `MaxLabelLength`).
pub const MAX_LABEL_LEN: usize = 512;

/// Deepest nesting accepted, both of parentheses in the input and of `!`/`&&`/`||` nodes in the
/// tree. Bounds the recursion of the parser, of evaluation and of printing; the canonical form of
/// any accepted selector is itself accepted.
pub const MAX_NESTING_DEPTH: usize = 256;

/// A selector that does not parse: where (byte offset into `input`) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("invalid selector {input:?} at position {position}: expected {expected}")]
pub struct SelectorError {
    /// The whole selector as given.
    pub input: String,
    /// Byte offset of the offending character or token (`input.len()` for "unexpected end").
    pub position: usize,
    /// What would have been accepted at `position`.
    pub expected: String,
}

impl SelectorError {
    /// The input on one line and a caret under the offending character on the next
    /// (the caret is placed by character count, so it lines up for any UTF-8 input).
    pub fn caret(&self) -> String {
        let prefix = self.input.get(..self.position).unwrap_or(&self.input);
        let col = prefix.chars().count();
        format!("{}\n{}^", self.input, " ".repeat(col))
    }
}

pub(crate) const EXPECT_OPERATOR: &str = "==, !=, in, not in, contains, starts with, ends with";
const EXPECT_TERM: &str = "a label, has(label), all(), global(), ! or (";
const EXPECT_END: &str = "&&, || or end of selector";
const EXPECT_CLOSE: &str = "&&, || or )";
const EXPECT_STRING: &str = "a quoted string";
const EXPECT_SET: &str = "{";
const EXPECT_SET_ITEM: &str = "a quoted string or }";
const EXPECT_SET_NEXT: &str = ", or }";
const EXPECT_LABEL: &str = "a label";
const EXPECT_RPAREN: &str = ")";
const EXPECT_SHORTER_LABEL: &str = "a label of at most 512 characters";
const EXPECT_SHALLOWER: &str = "at most 256 levels of nesting";

/// True for `[A-Za-z0-9_./-]`.
pub(crate) fn is_label_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-')
}

/// True if `s` is a label the parser accepts: `[A-Za-z0-9_./-]{1,512}`.
pub fn is_valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LABEL_LEN && s.bytes().all(is_label_byte)
}

fn trim_ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// A word operator ends on a word boundary: end of input or a non-label character.
fn at_word_boundary(rest: &str) -> bool {
    rest.as_bytes().first().is_none_or(|&c| !is_label_byte(c))
}

/// `word` followed by a word boundary; returns what follows.
fn cut_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    s.strip_prefix(word).filter(|rest| at_word_boundary(rest))
}

/// `first`, any run of whitespace (or none), `second`, then a word boundary.
fn cut_two_words<'a>(s: &'a str, first: &str, second: &str) -> Option<&'a str> {
    let rest = trim_ws(s.strip_prefix(first)?);
    let rest = trim_ws(rest.strip_prefix(second)?);
    at_word_boundary(rest).then_some(rest)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Label(&'a str),
    Str(&'a str),
    LBrace,
    RBrace,
    Comma,
    Eq,
    Ne,
    In,
    NotIn,
    Not,
    Contains,
    StartsWith,
    EndsWith,
    All,
    Global,
    Has(&'a str),
    LParen,
    RParen,
    And,
    Or,
    Eof,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    pos: usize,
}

/// A tokenizer failure; `expected: None` means "not a token at all here", and the parser fills in
/// what it was looking for.
struct LexError {
    pos: usize,
    expected: Option<&'static str>,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    last_was_label: bool,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.input.get(self.pos..).unwrap_or("")
    }

    /// Byte offset of `rest`, a suffix of the input.
    fn offset_of(&self, rest: &str) -> usize {
        self.input.len() - rest.len()
    }

    fn err<T>(pos: usize, expected: &'static str) -> Result<T, LexError> {
        Err(LexError {
            pos,
            expected: Some(expected),
        })
    }

    /// Cuts a label off the front of `s` (which starts at byte `at`).
    fn cut_label(&self, s: &'a str, at: usize) -> Result<(&'a str, &'a str), LexError> {
        let len = s.bytes().take_while(|&c| is_label_byte(c)).count();
        if len == 0 {
            return Err(LexError {
                pos: at,
                expected: None,
            });
        }
        if len > MAX_LABEL_LEN {
            return Self::err(at, EXPECT_SHORTER_LABEL);
        }
        // Label bytes are ASCII, so `len` is a char boundary.
        Ok((s.get(..len).unwrap_or(""), s.get(len..).unwrap_or("")))
    }

    /// `name(` already matched; whitespace then `)`.
    fn cut_empty_call(&self, after_paren: &'a str) -> Result<&'a str, LexError> {
        let rest = trim_ws(after_paren);
        match rest.strip_prefix(')') {
            Some(rest) => Ok(rest),
            None => Self::err(self.offset_of(rest), EXPECT_RPAREN),
        }
    }

    fn next_token(&mut self) -> Result<Token<'a>, LexError> {
        let s = trim_ws(self.rest());
        let start = self.offset_of(s);
        let (tok, rest) = self.lex_at(s, start)?;
        self.pos = self.offset_of(rest);
        self.last_was_label = matches!(tok, Tok::Label(_));
        Ok(Token { tok, pos: start })
    }

    fn lex_at(&self, s: &'a str, start: usize) -> Result<(Tok<'a>, &'a str), LexError> {
        let Some(&c) = s.as_bytes().first() else {
            return Ok((Tok::Eof, s));
        };
        // Every byte matched below is ASCII, so slicing one or two bytes off is on a boundary.
        let after = |n: usize| s.get(n..).unwrap_or("");
        let single = match c {
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'{' => Some(Tok::LBrace),
            b'}' => Some(Tok::RBrace),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            return Ok((tok, after(1)));
        }
        match c {
            b'"' | b'\'' => {
                let body = after(1);
                match body.find(char::from(c)) {
                    Some(end) => Ok((
                        Tok::Str(body.get(..end).unwrap_or("")),
                        body.get(end + 1..).unwrap_or(""),
                    )),
                    None => Self::err(
                        start,
                        if c == b'"' {
                            "a closing \" for the string starting here"
                        } else {
                            "a closing ' for the string starting here"
                        },
                    ),
                }
            }
            b'=' => match s.strip_prefix("==") {
                Some(rest) => Ok((Tok::Eq, rest)),
                None if self.last_was_label => Self::err(start, EXPECT_OPERATOR),
                None => Self::err(start, "=="),
            },
            b'!' => match s.strip_prefix("!=") {
                Some(rest) => Ok((Tok::Ne, rest)),
                None => Ok((Tok::Not, after(1))),
            },
            b'&' => match s.strip_prefix("&&") {
                Some(rest) => Ok((Tok::And, rest)),
                None if self.last_was_label => Self::err(start, EXPECT_OPERATOR),
                None => Self::err(start, "&&"),
            },
            b'|' => match s.strip_prefix("||") {
                Some(rest) => Ok((Tok::Or, rest)),
                None if self.last_was_label => Self::err(start, EXPECT_OPERATOR),
                None => Self::err(start, "||"),
            },
            _ if self.last_was_label => {
                // After a label only an operator word may follow; the words are not reserved
                // elsewhere. Order matters: "not in" before "in".
                if let Some(rest) = cut_word(s, "contains") {
                    Ok((Tok::Contains, rest))
                } else if let Some(rest) = cut_two_words(s, "starts", "with") {
                    Ok((Tok::StartsWith, rest))
                } else if let Some(rest) = cut_two_words(s, "ends", "with") {
                    Ok((Tok::EndsWith, rest))
                } else if let Some(rest) = cut_two_words(s, "not", "in") {
                    Ok((Tok::NotIn, rest))
                } else if let Some(rest) = cut_word(s, "in") {
                    Ok((Tok::In, rest))
                } else {
                    Self::err(start, EXPECT_OPERATOR)
                }
            }
            _ => {
                if let Some(inner) = s.strip_prefix("has(") {
                    let inner = trim_ws(inner);
                    let at = self.offset_of(inner);
                    let (label, rest) = match self.cut_label(inner, at) {
                        Err(LexError {
                            expected: None,
                            pos,
                        }) => return Self::err(pos, EXPECT_LABEL),
                        other => other?,
                    };
                    let rest = trim_ws(rest);
                    match rest.strip_prefix(')') {
                        Some(rest) => Ok((Tok::Has(label), rest)),
                        None => Self::err(self.offset_of(rest), EXPECT_RPAREN),
                    }
                } else if let Some(inner) = s.strip_prefix("all(") {
                    Ok((Tok::All, self.cut_empty_call(inner)?))
                } else if let Some(inner) = s.strip_prefix("global(") {
                    Ok((Tok::Global, self.cut_empty_call(inner)?))
                } else {
                    let (label, rest) = self.cut_label(s, start)?;
                    Ok((Tok::Label(label), rest))
                }
            }
        }
    }
}

/// A parsed subtree and its depth in `!`/`&&`/`||` nodes.
type Parsed = (Expr, usize);

/// One open parenthesis (or the whole selector): the `||` operands finished so far and the `&&`
/// operands of the group being read. The parser keeps these on an explicit stack rather than
/// recursing, so its own stack use does not grow with nesting.
struct Group {
    /// An odd number of `!` stood before the `(` that opened this group.
    negated: bool,
    /// Where those `!` (or the `(`) started.
    unary_start: usize,
    ors: Vec<Parsed>,
    or_start: usize,
    ands: Vec<Parsed>,
    and_start: usize,
}

/// `(operands...)` as one node, or the single operand itself; `Err` is the depth overflow.
fn fold(mut operands: Vec<Parsed>, make: fn(Vec<Expr>) -> Expr) -> Result<Parsed, ()> {
    if operands.len() == 1
        && let Some(only) = operands.pop()
    {
        return Ok(only);
    }
    let depth = operands.iter().map(|(_, d)| *d).max().unwrap_or(0) + 1;
    if depth > MAX_NESTING_DEPTH {
        return Err(());
    }
    Ok((make(operands.into_iter().map(|(e, _)| e).collect()), depth))
}

impl Group {
    fn new(negated: bool, unary_start: usize) -> Group {
        Group {
            negated,
            unary_start,
            ors: Vec::new(),
            or_start: 0,
            ands: Vec::new(),
            and_start: 0,
        }
    }

    fn push_and(&mut self, operand: Parsed, start: usize) {
        if self.ands.is_empty() {
            self.and_start = start;
        }
        self.ands.push(operand);
    }

    /// Closes the current `&&` run and adds it as an `||` operand; `Err` is the error position.
    fn finish_and(&mut self) -> Result<(), usize> {
        let ands = std::mem::take(&mut self.ands);
        let folded = fold(ands, Expr::And).map_err(|()| self.and_start)?;
        if self.ors.is_empty() {
            self.or_start = self.and_start;
        }
        self.ors.push(folded);
        Ok(())
    }

    /// The group's expression (without its leading `!`); `Err` is the error position.
    fn finish(mut self) -> Result<(Parsed, bool, usize), usize> {
        self.finish_and()?;
        let folded = fold(self.ors, Expr::Or).map_err(|()| self.or_start)?;
        Ok((folded, self.negated, self.unary_start))
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
}

impl<'a> Parser<'a> {
    fn error(&self, position: usize, expected: &str) -> SelectorError {
        SelectorError {
            input: self.lexer.input.to_owned(),
            position,
            expected: expected.to_owned(),
        }
    }

    /// The next token, without consuming it. `context` is what the parser is looking for, used
    /// when the text at this point is not a token at all.
    fn peek(&mut self, context: &str) -> Result<Token<'a>, SelectorError> {
        if let Some(t) = self.peeked {
            return Ok(t);
        }
        match self.lexer.next_token() {
            Ok(t) => {
                self.peeked = Some(t);
                Ok(t)
            }
            Err(e) => Err(self.error(e.pos, e.expected.unwrap_or(context))),
        }
    }

    fn bump(&mut self) {
        self.peeked = None;
    }

    fn too_deep(&self, position: usize) -> SelectorError {
        self.error(position, EXPECT_SHALLOWER)
    }

    fn negate(&self, (expr, depth): Parsed, start: usize) -> Result<Parsed, SelectorError> {
        if depth + 1 > MAX_NESTING_DEPTH {
            return Err(self.too_deep(start));
        }
        Ok((Expr::Not(Box::new(expr)), depth + 1))
    }

    /// selector := ws* EOF | or_expr EOF, with
    /// or_expr := and_expr ("||" and_expr)*, and_expr := unary ("&&" unary)*,
    /// unary := "!"* primary, primary := has(..) | all() | global() | comparison | "(" or_expr ")".
    fn parse_root(&mut self) -> Result<Expr, SelectorError> {
        if self.peek(EXPECT_TERM)?.tok == Tok::Eof {
            return Ok(Expr::All);
        }
        let mut groups = vec![Group::new(false, 0)];
        loop {
            // One unary: its `!`s, then an opening parenthesis or a leaf.
            let mut t = self.peek(EXPECT_TERM)?;
            let start = t.pos;
            let mut negated = false;
            while t.tok == Tok::Not {
                negated = !negated;
                self.bump();
                t = self.peek(EXPECT_TERM)?;
            }
            if t.tok == Tok::LParen {
                // `groups.len() - 1` parentheses are open; this one would be one more.
                if groups.len() > MAX_NESTING_DEPTH {
                    return Err(self.too_deep(t.pos));
                }
                self.bump();
                groups.push(Group::new(negated, start));
                continue;
            }
            let mut operand = (self.parse_leaf(t)?, 0);
            if negated {
                operand = self.negate(operand, start)?;
            }
            let mut operand_start = start;

            // Then what follows it, closing as many groups as `)` says.
            loop {
                let nested = groups.len() > 1;
                let context = if nested { EXPECT_CLOSE } else { EXPECT_END };
                let Some(group) = groups.last_mut() else {
                    return Err(self.error(start, context));
                };
                group.push_and(operand, operand_start);
                let t = self.peek(context)?;
                match t.tok {
                    Tok::And => {
                        self.bump();
                        break;
                    }
                    Tok::Or => {
                        self.bump();
                        group.finish_and().map_err(|pos| self.too_deep(pos))?;
                        break;
                    }
                    Tok::RParen if nested => {
                        self.bump();
                        let Some(group) = groups.pop() else {
                            return Err(self.error(t.pos, context));
                        };
                        let (inner, negated, unary_start) =
                            group.finish().map_err(|pos| self.too_deep(pos))?;
                        operand = if negated {
                            self.negate(inner, unary_start)?
                        } else {
                            inner
                        };
                        operand_start = unary_start;
                    }
                    Tok::Eof if !nested => {
                        let Some(group) = groups.pop() else {
                            return Err(self.error(t.pos, context));
                        };
                        let ((expr, _), _, _) = group.finish().map_err(|pos| self.too_deep(pos))?;
                        return Ok(expr);
                    }
                    _ => return Err(self.error(t.pos, context)),
                }
            }
        }
    }

    /// `t` is the (peeked, not yet consumed) first token of a primary other than `(`.
    fn parse_leaf(&mut self, t: Token<'a>) -> Result<Expr, SelectorError> {
        let expr = match t.tok {
            Tok::Has(label) => Expr::Has(label.to_owned()),
            Tok::All => Expr::All,
            Tok::Global => Expr::Global,
            Tok::Label(label) => {
                self.bump();
                return self.parse_comparison(label);
            }
            _ => return Err(self.error(t.pos, EXPECT_TERM)),
        };
        self.bump();
        Ok(expr)
    }

    /// After a label: an operator and its operand.
    fn parse_comparison(&mut self, label: &str) -> Result<Expr, SelectorError> {
        let op = self.peek(EXPECT_OPERATOR)?;
        let label = label.to_owned();
        match op.tok {
            Tok::Eq | Tok::Ne | Tok::Contains | Tok::StartsWith | Tok::EndsWith => {
                self.bump();
                let v = self.peek(EXPECT_STRING)?;
                let Tok::Str(value) = v.tok else {
                    return Err(self.error(v.pos, EXPECT_STRING));
                };
                self.bump();
                let value = value.to_owned();
                Ok(match op.tok {
                    Tok::Eq => Expr::Equals { label, value },
                    Tok::Ne => Expr::NotEquals { label, value },
                    Tok::Contains => Expr::Contains { label, value },
                    Tok::StartsWith => Expr::StartsWith { label, value },
                    _ => Expr::EndsWith { label, value },
                })
            }
            Tok::In | Tok::NotIn => {
                self.bump();
                let values = self.parse_set()?;
                Ok(if op.tok == Tok::In {
                    Expr::In { label, values }
                } else {
                    Expr::NotIn { label, values }
                })
            }
            _ => Err(self.error(op.pos, EXPECT_OPERATOR)),
        }
    }

    /// `"{" [ STRING ( "," STRING )* [","] ] "}"`.
    fn parse_set(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let open = self.peek(EXPECT_SET)?;
        if open.tok != Tok::LBrace {
            return Err(self.error(open.pos, EXPECT_SET));
        }
        self.bump();
        let mut values = BTreeSet::new();
        loop {
            let t = self.peek(EXPECT_SET_ITEM)?;
            match t.tok {
                Tok::RBrace => {
                    self.bump();
                    return Ok(values);
                }
                Tok::Str(v) => {
                    self.bump();
                    values.insert(v.to_owned());
                    let sep = self.peek(EXPECT_SET_NEXT)?;
                    match sep.tok {
                        Tok::Comma => self.bump(),
                        Tok::RBrace => {
                            self.bump();
                            return Ok(values);
                        }
                        _ => return Err(self.error(sep.pos, EXPECT_SET_NEXT)),
                    }
                }
                _ => return Err(self.error(t.pos, EXPECT_SET_ITEM)),
            }
        }
    }
}

/// Parses a selector; the empty (or all-whitespace) selector is `all()`.
pub(crate) fn parse(input: &str) -> Result<Expr, SelectorError> {
    let mut parser = Parser {
        lexer: Lexer {
            input,
            pos: 0,
            last_was_label: false,
        },
        peeked: None,
    };
    parser.parse_root()
}

#[cfg(test)]
pub(crate) fn tokenize_kinds(input: &str) -> Result<Vec<String>, usize> {
    let mut lexer = Lexer {
        input,
        pos: 0,
        last_was_label: false,
    };
    let mut out = Vec::new();
    loop {
        let t = lexer.next_token().map_err(|e| e.pos)?;
        if t.tok == Tok::Eof {
            return Ok(out);
        }
        out.push(format!("{:?}", t.tok));
    }
}
