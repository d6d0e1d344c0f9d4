//! The loop's timer: a timerfd in the poll set, armed for the next deadline only when that deadline
//! changes, so that the loop blocks in `epoll_wait` without a timeout.
//!
//! Why: a timed `epoll_wait` starts a kernel hrtimer on every call and cancels it when a socket wakes
//! the loop first, which under real peers (one message per wake-up) is nearly every call; on this VM
//! that is ~2 µs per wake-up (`scripts/wakeup-floor.sh`: untimed 20.5 µs against timed 22.2, medians of
//! 10 pairs; BENCHMARKS.md "Session 9"). The bare forwarder waits untimed. The scheduler's deadlines are
//! periodic (cleanup, status, balancing, housekeeping), so the timerfd is set a few times a second.
//! A signal that lands between the loop's stop check and `epoll_wait` is seen at the next deadline,
//! at most a second later (housekeeping's period); one during the wait interrupts it.
use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub struct WakeTimer {
    fd: OwnedFd,
    /// The deadline the timerfd is set for, until it fires.
    armed: Option<Instant>,
}

impl WakeTimer {
    pub fn new(poll: &Poll, token: Token) -> io::Result<WakeTimer> {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        poll.registry()
            .register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(WakeTimer { fd, armed: None })
    }

    /// Makes the timer fire at `when` (at once if it has passed); nothing to do if it is set for it.
    pub fn arm(&mut self, when: Instant) -> io::Result<()> {
        if self.armed == Some(when) {
            return Ok(());
        }
        // A zero it_value would disarm the timer: a deadline already past fires in a nanosecond.
        let d = when
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec and the old value is not asked for.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(when);
        Ok(())
    }

    /// The timerfd turned readable: clears its count (edge-triggered, it reports the next expiry only
    /// once this one was read) and forgets the deadline, so the next `arm` sets one.
    pub fn fired(&mut self) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `count`; a spurious wake-up reads nothing (EAGAIN).
        unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::Events;

    /// Fires once per arming at its deadline, not before; re-arming for the same deadline is free.
    #[test]
    fn fires_at_the_deadline_it_was_armed_for() {
        let mut poll = Poll::new().unwrap();
        let mut t = WakeTimer::new(&poll, Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        let when = start + Duration::from_millis(30);
        t.arm(when).unwrap();
        t.arm(when).unwrap();
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert!(Instant::now() >= when, "fired early");
        assert_eq!(
            events.iter().map(|e| e.token()).collect::<Vec<_>>(),
            [Token(7)]
        );
        t.fired();
        // Nothing more until it is armed again; a past deadline fires at once.
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert!(events.is_empty());
        t.arm(start).unwrap();
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(events.iter().count(), 1);
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
