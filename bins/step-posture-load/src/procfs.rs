//! What `/proc` says about the server process: CPU time (user plus system, all threads) and
//! peak resident memory.

use std::time::Duration;

use anyhow::{Context, bail};

/// Clock ticks per second for `/proc/<pid>/stat` times, from `getconf CLK_TCK` (asked once).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClockTicks(u64);

impl ClockTicks {
    /// Runs `getconf CLK_TCK`.
    pub(crate) fn query() -> anyhow::Result<Self> {
        let output = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .context("running getconf CLK_TCK")?;
        if !output.status.success() {
            bail!("getconf CLK_TCK failed: {}", output.status);
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let ticks: u64 = text
            .trim()
            .parse()
            .with_context(|| format!("getconf CLK_TCK printed {text:?}, not a number"))?;
        if ticks == 0 {
            bail!("getconf CLK_TCK printed 0");
        }
        Ok(Self(ticks))
    }

    fn to_duration(self, ticks: u64) -> Duration {
        Duration::from_secs(ticks / self.0)
            + Duration::from_nanos((ticks % self.0) * 1_000_000_000 / self.0)
    }
}

/// User plus system CPU time of every thread of `pid`, from `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32, clock: ClockTicks) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_stat_cpu_ticks(&text).with_context(|| format!("{path}: {text:?}"))?;
    Ok(clock.to_duration(ticks))
}

/// utime + stime (fields 14 and 15). The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat_cpu_ticks(text: &str) -> anyhow::Result<u64> {
    let after_name = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .context("no command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so field n is fields[n - 3].
    let field = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .context("too few fields")?
            .parse::<u64>()
            .with_context(|| format!("field {n} is not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// Memory figures from `/proc/<pid>/status`, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Memory {
    /// `VmHWM`: peak resident set size.
    pub(crate) peak_rss: u64,
    /// `VmRSS`: resident set size now.
    pub(crate) rss: u64,
}

/// Reads `VmHWM` and `VmRSS` of `pid`.
pub(crate) fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_memory(&text).with_context(|| format!("{path}: no VmHWM/VmRSS"))
}

fn parse_status_memory(text: &str) -> anyhow::Result<Memory> {
    let kib = |key: &str| -> anyhow::Result<u64> {
        let line = text
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .with_context(|| format!("no {key} line"))?;
        let number = line.trim().trim_end_matches("kB").trim();
        let value: u64 = number
            .parse()
            .with_context(|| format!("{key} {line:?} is not a number of kB"))?;
        Ok(value * 1024)
    };
    Ok(Memory {
        peak_rss: kib("VmHWM:")?,
        rss: kib("VmRSS:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 3 0 100 \
                    1000000 500 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat_cpu_ticks(line).unwrap(), 325);
        assert!(parse_stat_cpu_ticks("4242 (a) S 1").is_err());
    }

    #[test]
    fn status_memory_in_bytes() {
        let text = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        let memory = parse_status_memory(text).unwrap();
        assert_eq!(memory.peak_rss, 2048 * 1024);
        assert_eq!(memory.rss, 1024 * 1024);
        assert!(parse_status_memory("Name:\tx\n").is_err());
    }

    #[test]
    fn reads_this_process() {
        let clock = ClockTicks::query().unwrap();
        cpu_time(std::process::id(), clock).unwrap();
        assert!(memory(std::process::id()).unwrap().peak_rss > 0);
    }

    #[test]
    fn ticks_to_duration() {
        let clock = ClockTicks(100);
        assert_eq!(clock.to_duration(250), Duration::from_millis(2500));
    }
}
