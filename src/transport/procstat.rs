//! Process figures for the monitor's StateScheduler (Linux /proc; zeros elsewhere).
use std::io::Read;
use std::time::Instant;

/// The whole of a short /proc file in as few read calls as the kernel allows (`read_to_string` on a
/// file whose reported size is 0 starts at 32 bytes and doubles: 7 reads for /proc/meminfo, plus a
/// statx and an lseek).
fn read_proc(path: &str) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(n);
    String::from_utf8(buf).ok()
}

#[derive(Debug)]
pub struct ProcSampler {
    last: Option<(Instant, u64)>,
    ticks_per_sec: u64,
}

impl Default for ProcSampler {
    fn default() -> Self {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ProcSampler {
            last: None,
            ticks_per_sec: if t > 0 { t as u64 } else { 100 },
        }
    }
}

impl ProcSampler {
    /// Forgets the previous sample (no one read the figures since), so that the next CPU figure is
    /// not an average over the unobserved stretch.
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// (cpu permille of one core since the last call, rss bytes, available memory bytes).
    pub fn sample(&mut self, now: Instant) -> (u16, u64, u64) {
        let ticks = cpu_ticks().unwrap_or(0);
        let cpu = match self.last {
            Some((t, prev)) => {
                let wall = now.saturating_duration_since(t).as_secs_f64();
                if wall > 0.0 {
                    let used = ticks.saturating_sub(prev) as f64 / self.ticks_per_sec as f64;
                    ((used / wall) * 1000.0).min(u16::MAX as f64) as u16
                } else {
                    0
                }
            }
            None => 0,
        };
        self.last = Some((now, ticks));
        (cpu, rss_bytes().unwrap_or(0), mem_available().unwrap_or(0))
    }
}

/// utime + stime of this process, in clock ticks.
pub fn cpu_ticks() -> Option<u64> {
    let s = read_proc("/proc/self/stat")?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub fn rss_bytes() -> Option<u64> {
    let s = read_proc("/proc/self/statm")?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    Some(pages * page)
}

fn mem_available() -> Option<u64> {
    let s = read_proc("/proc/meminfo")?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}
