//! `--config FILE`: the `[scheduler]` section of the TOML file `scaler_scheduler --config` reads.
//!
//! Only the subset of TOML that file uses is understood: one `[scheduler]` table (other tables are
//! skipped) with `key = value` lines of strings, numbers, booleans and arrays of strings. Keys are the
//! long option names with `_` or `-`; an unknown key is an error naming it.

/// (canonical long option name, values) pairs, in file order.
pub fn load(path: &str) -> Result<Vec<(&'static str, Vec<String>)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read config {path}: {e}"))?;
    parse(&text).map_err(|e| format!("{path}: {e}"))
}

pub fn parse(text: &str) -> Result<Vec<(&'static str, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut in_section = false;
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim().to_string();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            in_section = line.trim_start_matches('[').trim_end_matches(']').trim() == "scheduler";
            continue;
        }
        if !in_section {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key = value", n + 1))?;
        let key = k.trim().trim_matches('"');
        let name = super::cli::canonical_pub(key)
            .ok_or_else(|| format!("line {}: unknown key {key:?} in [scheduler]", n + 1))?;
        let values = value(v.trim()).map_err(|e| format!("line {}: {e}", n + 1))?;
        if name == "protected" && values.first().map(String::as_str) == Some("false") {
            continue;
        }
        out.push((name, values));
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

fn value(v: &str) -> Result<Vec<String>, String> {
    if let Some(inner) = v.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unterminated array")?;
        return inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(scalar)
            .collect();
    }
    Ok(vec![scalar(v)?])
}

fn scalar(v: &str) -> Result<String, String> {
    if let Some(s) = v.strip_prefix('"') {
        return s
            .strip_suffix('"')
            .map(String::from)
            .ok_or_else(|| format!("unterminated string {v}"));
    }
    if let Some(s) = v.strip_prefix('\'') {
        return s
            .strip_suffix('\'')
            .map(String::from)
            .ok_or_else(|| format!("unterminated string {v}"));
    }
    if v == "true" || v == "false" || v.parse::<f64>().is_ok() {
        return Ok(v.to_string());
    }
    Err(format!("unsupported value {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scaler_example_shape() {
        let t = "# c\n[scheduler]\nbind_address = \"tcp://0.0.0.0:6378\"\nobject_storage_address = \"tcp://127.0.0.1:6379\" # x\nprotected = false\nload_balance_seconds = 1\n[worker]\nfoo = 1\n";
        let v = parse(t).unwrap();
        assert_eq!(
            v[0],
            ("bind-address", vec!["tcp://0.0.0.0:6378".to_string()])
        );
        assert_eq!(v[1].0, "object-storage-address");
        assert_eq!(v.len(), 3);
        // scaler-rs's own limits are keys of the same section.
        let v =
            parse("[scheduler]\nmonitor_worker_limit = 50\nmonitor-queue-bytes = 1024\n").unwrap();
        assert_eq!(v[0], ("monitor-worker-limit", vec!["50".to_string()]));
        assert_eq!(v[1], ("monitor-queue-bytes", vec!["1024".to_string()]));
        assert!(parse("[scheduler]\nbogus_key = 1\n")
            .unwrap_err()
            .contains("bogus_key"));
    }
}
