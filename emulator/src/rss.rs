//! Peak resident memory of this process, from `/proc/self/status` (`VmHWM`).

/// Peak resident set size in MiB, or `None` where `/proc` is unavailable.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm_kb(&status).map(|kb| kb as f64 / 1024.0)
}

/// Current resident set size in MiB (`VmRSS`), or `None` where `/proc` is unavailable.
pub fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kb(&status, "VmRSS:").map(|kb| kb as f64 / 1024.0)
}

fn parse_vm_hwm_kb(status: &str) -> Option<u64> {
    parse_kb(status, "VmHWM:")
}

fn parse_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_hwm() {
        assert_eq!(
            parse_vm_hwm_kb("Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t1 kB\n"),
            Some(20480)
        );
        assert_eq!(parse_vm_hwm_kb("VmRSS: 1 kB"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mb().is_some_and(|mb| mb > 0.0));
        }
    }
}
