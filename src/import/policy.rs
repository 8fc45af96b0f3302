//! The host's own policy on referenced globals, applied whatever the loader decided
//! (defence in depth): code execution, file/network access and unknown globals are always
//! refused; unknown-but-harmless classes only with `allow_unknown_classes`.

use super::report::{GlobalEntry, Risk};

/// Why the globals make the file unacceptable, or `None` if they are fine.
pub fn refusal(globals: &[GlobalEntry], allow_unknown_classes: bool) -> Option<String> {
    let bad: Vec<&GlobalEntry> = globals
        .iter()
        .filter(|g| match g.risk {
            Risk::Allowed => false,
            Risk::UnknownClass => !allow_unknown_classes,
            Risk::CodeExecution | Risk::FileOrNetwork | Risk::Unknown => true,
        })
        .collect();
    if bad.is_empty() {
        return None;
    }
    let listed: Vec<String> = bad
        .iter()
        .take(20)
        .map(|g| format!("{} ({})", g.name, g.risk.name()))
        .collect();
    let more = if bad.len() > 20 {
        format!(" and {} more", bad.len() - 20)
    } else {
        String::new()
    };
    let hint = if bad.iter().all(|g| g.risk == Risk::UnknownClass) {
        " (use --allow-unknown-classes to import tensors held by unknown classes)"
    } else {
        ""
    };
    Some(format!(
        "the file references globals that are not allowed: {}{more}{hint}",
        listed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str, risk: Risk) -> GlobalEntry {
        GlobalEntry {
            name: name.into(),
            risk,
        }
    }

    #[test]
    fn dangerous_globals_are_always_refused() {
        let ok = [g("torch._utils._rebuild_tensor_v2", Risk::Allowed)];
        assert_eq!(refusal(&ok, false), None);
        let cls = [g(
            "sklearn.linear_model.LinearRegression",
            Risk::UnknownClass,
        )];
        assert!(
            refusal(&cls, false)
                .unwrap()
                .contains("--allow-unknown-classes")
        );
        assert_eq!(refusal(&cls, true), None);
        for risk in [Risk::CodeExecution, Risk::FileOrNetwork, Risk::Unknown] {
            let bad = [g("os.system", risk)];
            assert!(
                refusal(&bad, true).unwrap().contains("os.system"),
                "{risk:?}"
            );
        }
    }
}
