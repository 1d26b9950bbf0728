//! The `Genotype(...)` text of DARTS's `genotypes.py`: printing and a forgiving, precise parser.

use std::fmt;
use std::str::FromStr;

use super::{Cell, Genotype, GenotypeError, NUM_NODES, NUM_PAIRS, Op};

fn write_cell(f: &mut fmt::Formatter<'_>, cell: &Cell) -> fmt::Result {
    f.write_str("[")?;
    for (i, (op, j)) in cell.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "('{op}', {j})")?;
    }
    f.write_str("]")
}

/// DARTS's `genotypes.py` form, with the concat as a list (TE-NAS prints it so; the parser also
/// takes `range(2, 6)`).
impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Genotype(normal=")?;
        write_cell(f, &self.normal)?;
        f.write_str(", normal_concat=[2, 3, 4, 5], reduce=")?;
        write_cell(f, &self.reduce)?;
        f.write_str(", reduce_concat=[2, 3, 4, 5])")
    }
}

/// A token of the `Genotype(...)` text.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(usize),
    Punct(char),
}

fn tokens(s: &str) -> Result<Vec<Tok>, GenotypeError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut id = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    id.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Ident(id));
        } else if c.is_ascii_digit() {
            let mut n = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_ascii_digit() {
                    n.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            let v = n
                .parse()
                .map_err(|_| GenotypeError(format!("number `{n}` is too large")))?;
            out.push(Tok::Int(v));
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some((_, q)) if q == c => break,
                    Some((_, ch)) => text.push(ch),
                    None => {
                        return Err(GenotypeError(format!(
                            "the string starting at character {i} is not closed"
                        )));
                    }
                }
            }
            out.push(Tok::Str(text));
        } else if "()[],=".contains(c) {
            out.push(Tok::Punct(c));
            chars.next();
        } else {
            return Err(GenotypeError(format!("unexpected `{c}` at character {i}")));
        }
    }
    Ok(out)
}

/// A cursor over the tokens with the expectations of the grammar.
struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn punct(&mut self, c: char) -> Result<(), GenotypeError> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            Some(t) => Err(GenotypeError(format!("expected `{c}`, found {}", show(&t)))),
            None => Err(GenotypeError(format!("expected `{c}`, found the end"))),
        }
    }

    /// `,` before `close`, or `close` itself; whether the list closed.
    fn comma_or(&mut self, close: char) -> Result<bool, GenotypeError> {
        if self.peek() == Some(&Tok::Punct(close)) {
            self.at += 1;
            return Ok(true);
        }
        self.punct(',')?;
        if self.peek() == Some(&Tok::Punct(close)) {
            self.at += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn int(&mut self) -> Result<usize, GenotypeError> {
        match self.next() {
            Some(Tok::Int(v)) => Ok(v),
            Some(t) => Err(GenotypeError(format!(
                "expected a number, found {}",
                show(&t)
            ))),
            None => Err(GenotypeError("expected a number, found the end".into())),
        }
    }

    /// `[('op', j), …]`.
    fn pairs(&mut self, name: &str) -> Result<Vec<(Op, usize)>, GenotypeError> {
        self.punct('[')?;
        let mut v = Vec::new();
        if self.peek() == Some(&Tok::Punct(']')) {
            self.at += 1;
            return Ok(v);
        }
        loop {
            self.punct('(')?;
            let op = match self.next() {
                Some(Tok::Str(s)) => Op::from_name(&s).ok_or_else(|| {
                    let names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
                    GenotypeError(format!(
                        "{name} has unknown op `{s}` (expected one of {})",
                        names.join(", ")
                    ))
                })?,
                Some(t) => {
                    return Err(GenotypeError(format!(
                        "{name}: expected an op name in quotes, found {}",
                        show(&t)
                    )));
                }
                None => return Err(GenotypeError(format!("{name} is not closed"))),
            };
            self.punct(',')?;
            let j = self.int()?;
            // A 1-tuple's trailing comma is not a pair; `(op, j,)` is still one.
            if self.peek() == Some(&Tok::Punct(',')) {
                self.at += 1;
            }
            self.punct(')')?;
            v.push((op, j));
            if self.comma_or(']')? {
                return Ok(v);
            }
        }
    }

    /// `[2, 3, 4, 5]` or `range(2, 6)`, as the list of nodes.
    fn concat(&mut self) -> Result<Vec<usize>, GenotypeError> {
        if self.peek() == Some(&Tok::Ident("range".into())) {
            self.at += 1;
            self.punct('(')?;
            let a = self.int()?;
            self.punct(',')?;
            let b = self.int()?;
            self.punct(')')?;
            return Ok((a..b).collect());
        }
        self.punct('[')?;
        let mut v = Vec::new();
        if self.peek() == Some(&Tok::Punct(']')) {
            self.at += 1;
            return Ok(v);
        }
        loop {
            v.push(self.int()?);
            if self.comma_or(']')? {
                return Ok(v);
            }
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Int(v) => format!("`{v}`"),
        Tok::Punct(c) => format!("`{c}`"),
    }
}

/// Parses DARTS's `Genotype(normal=[…], normal_concat=…, reduce=[…], reduce_concat=…)`, keywords
/// in any order, single or double quotes, concat as a list or `range(2, 6)`, optionally after
/// `NAME =` as in `genotypes.py`. Rejects `none`, an input not below its node, a cell without 8
/// pairs and a concat other than nodes 2..=5, naming the problem.
impl FromStr for Genotype {
    type Err = GenotypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut toks = tokens(s)?;
        if matches!(toks.get(1), Some(Tok::Punct('=')))
            && matches!(toks.first(), Some(Tok::Ident(_)))
        {
            toks.drain(..2);
        }
        let mut p = Parser { toks, at: 0 };
        match p.next() {
            Some(Tok::Ident(id)) if id == "Genotype" => {}
            _ => return Err(GenotypeError("expected `Genotype(`".into())),
        }
        p.punct('(')?;
        let (mut normal, mut reduce, mut nc, mut rc) = (None, None, None, None);
        loop {
            let key = match p.next() {
                Some(Tok::Ident(k)) => k,
                Some(t) => {
                    return Err(GenotypeError(format!(
                        "expected a field name, found {}",
                        show(&t)
                    )));
                }
                None => return Err(GenotypeError("`Genotype(` is not closed".into())),
            };
            p.punct('=')?;
            match key.as_str() {
                "normal" => normal = Some(p.pairs("normal")?),
                "reduce" => reduce = Some(p.pairs("reduce")?),
                "normal_concat" => nc = Some(p.concat()?),
                "reduce_concat" => rc = Some(p.concat()?),
                other => {
                    return Err(GenotypeError(format!(
                        "unknown field `{other}` (expected normal, normal_concat, reduce, reduce_concat)"
                    )));
                }
            }
            if p.comma_or(')')? {
                break;
            }
        }
        if let Some(t) = p.next() {
            return Err(GenotypeError(format!(
                "unexpected {} after the closing `)`",
                show(&t)
            )));
        }
        let missing = |name: &str| GenotypeError(format!("`{name}` is missing"));
        let normal = normal.ok_or_else(|| missing("normal"))?;
        let nc = nc.ok_or_else(|| missing("normal_concat"))?;
        let reduce = reduce.ok_or_else(|| missing("reduce"))?;
        let rc = rc.ok_or_else(|| missing("reduce_concat"))?;
        let cell = |v: Vec<(Op, usize)>, concat: Vec<usize>, name: &str| {
            let n = v.len();
            let c: Cell = v.try_into().map_err(|_| {
                GenotypeError(format!(
                    "{name} has {n} pairs; a cell has {NUM_PAIRS} (2 per node, {NUM_NODES} nodes)"
                ))
            })?;
            Genotype::check(&c, name)?;
            if concat != [2, 3, 4, 5] {
                return Err(GenotypeError(format!(
                    "{name}_concat is {concat:?}; this space concatenates nodes [2, 3, 4, 5] (range(2, 6))"
                )));
            }
            Ok(c)
        };
        Ok(Genotype {
            normal: cell(normal, nc, "normal")?,
            reduce: cell(reduce, rc, "reduce")?,
        })
    }
}
