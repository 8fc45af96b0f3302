//! Human units on the command line: sizes (`1GiB`, `512MiB`, `16G`, `1000`) and durations
//! (`60s`, `2m`, `500ms`, `90`).

use std::time::Duration;

/// Parse a size: a number (decimals allowed) and an optional unit. `K`/`KiB`, `M`/`MiB`,
/// `G`/`GiB`, `T`/`TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` powers of 1000; `B` or
/// nothing means bytes. Case-insensitive, spaces allowed before the unit.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "unknown size unit {unit:?} in {text:?} (use e.g. 512MiB, 1GiB)"
            ));
        }
    };
    if number.is_empty() {
        return Err(format!("{text:?} is not a size (use e.g. 512MiB, 1GiB)"));
    }
    let value = if let Ok(whole) = number.parse::<u64>() {
        whole.checked_mul(scale)
    } else {
        let f: f64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a size (use e.g. 512MiB, 1GiB)"))?;
        let v = f * scale as f64;
        (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v.round() as u64)
    };
    value.ok_or_else(|| format!("size {text:?} is too large"))
}

/// Parse a duration: `60s`, `2m`, `1h`, `500ms`, `1m30s`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{text:?} is not a duration (use e.g. 60s, 2m): {e}"))
}

/// Parse a wasm stack size: a size between 256 KiB and 256 MiB.
pub fn parse_stack(text: &str) -> Result<u64, String> {
    use modelseal::sandbox::limits::{MAX_WASM_STACK, MIN_WASM_STACK, human_size};
    let v = parse_size(text)?;
    if (MIN_WASM_STACK..=MAX_WASM_STACK).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "must be between {} and {}",
            human_size(MIN_WASM_STACK),
            human_size(MAX_WASM_STACK)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1 gib"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("1 parsec").is_err());
        assert!(parse_size("99999999999TiB").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }
}
