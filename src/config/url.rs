//! The page's URL hash: the whole [`SearchConfig`] plus view state, so that a link reproduces a
//! run. Keys are the config's kebab-case keys (`seed`, `steps`, `batch`, `channels`, …) and the
//! view keys `preset`, `step`, `embed`, `autorun`, `selftest`. A bad field falls back to its default and is
//! named in a notice; nothing in a hash can make the page fail.

use serde_json::Value;

use crate::config::SearchConfig;

/// View state carried in the hash besides the config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ViewState {
    /// Name of a precomputed preset to replay.
    pub preset: Option<String>,
    /// Selected step (1-based) of the timeline.
    pub step: Option<usize>,
    /// Hide the explanations (for an iframe).
    pub embed: bool,
    /// Start a live run as soon as the page loads.
    pub autorun: bool,
    /// Run the WebGPU-against-CPU check as soon as the page loads.
    pub selftest: bool,
    /// A cell of the student's own to show and score (NB201's string), e.g. an exercise's.
    pub cell: Option<crate::space::Genotype>,
    /// The lesson's step (1-based) when the page opens in lesson mode (`lesson=1`).
    pub lesson: Option<usize>,
}

fn encode_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode_value(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A config field's value as the hash and the notices write it (`mean`, `32`, `0.5`).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The fields in which `a` differs from `b`, in key order: the kebab-case key, `a`'s value and
/// `b`'s, as text. The hash is a config's differences from the defaults; the page names a
/// replayed run's differences from the form with it.
pub fn differences(a: &SearchConfig, b: &SearchConfig) -> Vec<(String, String, String)> {
    let (a, b) = (
        serde_json::to_value(a).expect("plain struct"),
        serde_json::to_value(b).expect("plain struct"),
    );
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        unreachable!("a struct")
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| {
            let other = b.get(k).map(value_text).unwrap_or_default();
            (k.clone(), value_text(v), other)
        })
        .collect()
}

/// The hash (without `#`) for a config and view; only fields that differ from the defaults.
pub fn encode(cfg: &SearchConfig, view: &ViewState) -> String {
    let mut parts: Vec<String> = differences(cfg, &SearchConfig::default())
        .into_iter()
        .map(|(k, v, _)| format!("{k}={}", encode_value(&v)))
        .collect();
    if let Some(p) = &view.preset {
        parts.push(format!("preset={}", encode_value(p)));
    }
    if let Some(s) = view.step {
        parts.push(format!("step={s}"));
    }
    if view.embed {
        parts.push("embed=1".into());
    }
    if view.autorun {
        parts.push("autorun=1".into());
    }
    if view.selftest {
        parts.push("selftest=1".into());
    }
    if let Some(g) = &view.cell {
        parts.push(format!("cell={}", encode_value(&g.to_string())));
    }
    if let Some(l) = view.lesson {
        parts.push(format!("lesson={l}"));
    }
    parts.join("&")
}

/// Parses a hash (with or without `#`); returns the config, the view and one notice per field
/// that was ignored.
pub fn decode(hash: &str) -> (SearchConfig, ViewState, Vec<String>) {
    let mut cfg = SearchConfig::default();
    let mut view = ViewState::default();
    let mut notices = Vec::new();
    for part in hash
        .trim_start_matches('#')
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, raw) = part.split_once('=').unwrap_or((part, ""));
        let Some(val) = decode_value(raw) else {
            notices.push(format!(
                "URL field `{key}` is not valid percent-encoding; ignored"
            ));
            continue;
        };
        let flag = |v: &str| matches!(v, "1" | "true" | "yes" | "");
        match key {
            "preset" => view.preset = Some(val),
            "step" => match val.parse::<usize>() {
                Ok(s) if s >= 1 => view.step = Some(s),
                _ => notices.push(format!(
                    "URL field `step` = `{val}` is not a step number; ignored"
                )),
            },
            "embed" => view.embed = flag(&val),
            "autorun" => view.autorun = flag(&val),
            "selftest" => view.selftest = flag(&val),
            "cell" => match val.parse::<crate::space::Genotype>() {
                Ok(g) => view.cell = Some(g),
                Err(e) => notices.push(format!("URL field `cell`: {e}; ignored")),
            },
            "lesson" => match val.parse::<usize>() {
                Ok(l) if l >= 1 => view.lesson = Some(l),
                _ if flag(&val) => view.lesson = Some(1),
                _ => notices.push(format!(
                    "URL field `lesson` = `{val}` is not a lesson step; ignored"
                )),
            },
            _ => match with_field(&cfg, key, &val) {
                Ok(c) => cfg = c,
                Err(why) => {
                    notices.push(format!("field `{key}`: {why}; kept {}", current(&cfg, key)))
                }
            },
        }
    }
    // Ranges are checked once, over the whole config: a rule that ties two fields (CIFAR-10's
    // 32×32 size) must see both, whatever their order in the hash. A field at fault falls back
    // to its default, with a notice, until the config is valid.
    let defaults = serde_json::to_value(SearchConfig::default()).expect("plain struct");
    for _ in 0..=defaults.as_object().map_or(0, |m| m.len()) {
        let Err(e) = cfg.validate() else {
            return (cfg, view, notices);
        };
        let reset = defaults
            .get(e.field)
            .and_then(|d| with_value(&cfg, e.field, d.clone()).ok())
            .filter(|c| c != &cfg);
        match reset {
            Some(c) => {
                notices.push(format!(
                    "field `{}`: {}; using {}",
                    e.field,
                    e.message,
                    current(&c, e.field)
                ));
                cfg = c;
            }
            None => break,
        }
    }
    notices.push("the URL's settings are not valid together; using the defaults".into());
    (SearchConfig::default(), view, notices)
}

/// The current value of a config field as text (for notices), or `nothing` for unknown keys.
fn current(cfg: &SearchConfig, key: &str) -> String {
    match serde_json::to_value(cfg)
        .ok()
        .and_then(|v| v.get(key).cloned())
    {
        Some(v) => format!("`{}`", value_text(&v)),
        None => "nothing".into(),
    }
}

/// `cfg` with one field set from text, if the text has the field's type (ranges are checked
/// by [`decode`] once all fields are in).
fn with_field(cfg: &SearchConfig, key: &str, val: &str) -> Result<SearchConfig, String> {
    let v = serde_json::to_value(cfg).expect("plain struct");
    let slot = v.get(key).ok_or_else(|| "unknown field".to_string())?;
    let parsed = match slot {
        Value::Bool(_) => Value::Bool(match val {
            "1" | "true" | "" => true,
            "0" | "false" => false,
            _ => return Err(format!("`{val}` is not a boolean")),
        }),
        // Whole numbers exactly (a seed above 2⁵³ would not survive an f64).
        Value::Number(_) => match val.parse::<u64>() {
            Ok(u) => Value::from(u),
            Err(_) => {
                let n: f64 = val
                    .parse()
                    .map_err(|_| format!("`{val}` is not a number"))?;
                if !n.is_finite() {
                    return Err(format!("`{val}` is not a finite number"));
                }
                if n.fract() == 0.0 && (0.0..9.0e15).contains(&n) {
                    Value::from(n as u64)
                } else {
                    Value::from(n)
                }
            }
        },
        _ => Value::String(val.to_string()),
    };
    with_value(cfg, key, parsed)
}

/// `cfg` with field `key` set to the JSON value `value`, if it has the field's type.
fn with_value(cfg: &SearchConfig, key: &str, value: Value) -> Result<SearchConfig, String> {
    let mut v = serde_json::to_value(cfg).expect("plain struct");
    let Value::Object(map) = &mut v else {
        unreachable!("a struct")
    };
    map.insert(key.to_string(), value);
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NuRule;

    #[test]
    fn round_trip_and_defaults_are_omitted() {
        let cfg = SearchConfig {
            seed: 12,
            channels: 4,
            tau: 0.5,
            hard: true,
            nu: NuRule::Fixed(1.25),
            ..SearchConfig::default()
        };
        let view = ViewState {
            step: Some(3),
            embed: true,
            autorun: true,
            preset: None,
            selftest: true,
            cell: Some(
                "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
                    .parse()
                    .unwrap(),
            ),
            lesson: Some(4),
        };
        let h = encode(&cfg, &view);
        assert!(!h.contains("steps="), "{h}");
        let (c2, v2, notes) = decode(&format!("#{h}"));
        assert_eq!((c2, v2), (cfg, view));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(encode(&SearchConfig::default(), &ViewState::default()), "");
    }

    #[test]
    fn bad_fields_fall_back_with_a_notice() {
        let (c, _, notes) = decode(
            "#seed=5&batch=0&tau=abc&bogus=1&steps=7&step=x&data=gaussian%ZZ&cell=|x~0|&lesson=0",
        );
        assert_eq!(c.seed, 5);
        assert_eq!(c.steps, 7);
        assert_eq!(c.batch, SearchConfig::default().batch);
        let all = notes.join("\n");
        for needle in [
            "`batch`", "`tau`", "`bogus`", "`step`", "`data`", "`cell`", "`lesson`",
        ] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
    }
}
