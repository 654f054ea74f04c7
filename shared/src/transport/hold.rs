//! The held-stream state machine: what a held SSE response does next, written once for every
//! platform. Frames and events go in, the current time goes in (the core never reads a clock), and
//! out comes the next step: a frame to write, a poll of a stored source, a time to wake up at, or the
//! end of the stream. Each platform keeps only a short loop that does the I/O (writes, sleeps,
//! channel reads) and feeds the outcome back.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::sse::keepalive_frame;
use crate::metrics::Metrics;
use crate::port::UnixMillis;

/// Shortest keep-alive interval (ms): a configured `0` or tiny value would otherwise spin.
pub const MIN_KEEPALIVE_MS: u64 = 100;

/// Why a held stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client went away (a write failed or the connection closed).
    ClientGone,
    /// The source of frames ended (the session ended or its outbox closed).
    SourceEnded,
    /// The server is shutting down.
    Shutdown,
    /// The stream reached its deadline (e.g. the Lambda invocation is nearly out of time).
    Deadline,
}

/// The platform's next step for a held stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Write this frame; on failure report [`Closed::ClientGone`] with [`HeldStream::end`].
    Write(Bytes),
    /// Read the polled source now and hand what it yields to [`HeldStream::deliver`] (or end it).
    Poll,
    /// Wait for a delivery or an event, but wake up at this time at the latest.
    Wait(UnixMillis),
    /// The stream is over: stop, give its lease back.
    Close(Closed),
}

/// One held stream: queued frames, the keep-alive and poll schedules, the deadline, and whether it
/// has ended. Counted in the active-stream gauge while it lives when built with
/// [`HeldStream::counted`].
#[derive(Debug)]
pub struct HeldStream {
    queue: VecDeque<Bytes>,
    keepalive_ms: u64,
    next_keepalive: UnixMillis,
    poll_ms: Option<u64>,
    next_poll: UnixMillis,
    /// Longest interval an idle polled source backs off to (`None`: a fixed schedule).
    idle_poll_cap_ms: Option<u64>,
    /// The current interval while backing off.
    idle_poll_ms: u64,
    /// When the last poll was asked for, until its outcome is seen.
    polled_at: Option<UnixMillis>,
    /// Whether a frame was delivered since the last poll was asked for.
    delivered: bool,
    deadline: Option<UnixMillis>,
    closed: Option<Closed>,
    metrics: Option<Arc<Metrics>>,
    heartbeat: Option<&'static str>,
}

impl HeldStream {
    /// A stream opened at `now` that first sends `frames`, then a keep-alive comment every
    /// `keepalive_ms` (at least [`MIN_KEEPALIVE_MS`]).
    pub fn open(frames: Vec<Bytes>, keepalive_ms: u64, now: UnixMillis) -> Self {
        let keepalive_ms = keepalive_ms.max(MIN_KEEPALIVE_MS);
        Self {
            queue: frames.into(),
            keepalive_ms,
            next_keepalive: now.saturating_add(keepalive_ms),
            poll_ms: None,
            next_poll: UnixMillis::MAX,
            idle_poll_cap_ms: None,
            idle_poll_ms: 0,
            polled_at: None,
            delivered: false,
            deadline: None,
            closed: None,
            metrics: None,
            heartbeat: None,
        }
    }

    /// Sends each keep-alive as a named event `name` with data `{"timestamp": <ms>}` instead of a
    /// comment, for clients that listen for it (seed 004's `EventSource` `heartbeat` listener; a
    /// comment never reaches a listener).
    pub fn heartbeat_events(mut self, name: &'static str) -> Self {
        self.heartbeat = Some(name);
        self
    }

    /// Ends the stream at `at` (after frames already due are written).
    pub fn until(mut self, at: UnixMillis) -> Self {
        self.deadline = Some(at);
        self
    }

    /// Asks the platform to poll a stored source every `every_ms` (at least 1), the first time
    /// `every_ms` after `now`.
    pub fn polling(mut self, every_ms: u64, now: UnixMillis) -> Self {
        let every = every_ms.max(1);
        self.poll_ms = Some(every);
        self.idle_poll_ms = every;
        self.next_poll = now.saturating_add(every);
        self
    }

    /// Backs off while the polled source stays empty: each poll that yields nothing doubles the
    /// interval up to `cap_ms`; a poll that yields frames returns to the [`HeldStream::polling`]
    /// interval. For sources that rarely carry anything (a `GET /mcp` stream's outbox), so an idle
    /// stream costs a read every `cap_ms` rather than every interval.
    pub fn backing_off(mut self, cap_ms: u64) -> Self {
        self.idle_poll_cap_ms = Some(cap_ms);
        self
    }

    /// Counts the stream in `metrics`' active-stream gauge until it is dropped.
    pub fn counted(mut self, metrics: Arc<Metrics>) -> Self {
        metrics.stream_delta(1);
        self.metrics = Some(metrics);
        self
    }

    /// Queues a frame produced elsewhere (a delivery, a message from an outbox).
    pub fn deliver(&mut self, frame: Bytes) {
        if self.closed.is_none() {
            self.queue.push_back(frame);
            self.delivered = true;
        }
    }

    /// Queues several frames in order.
    pub fn deliver_all(&mut self, frames: impl IntoIterator<Item = Bytes>) {
        for f in frames {
            self.deliver(f);
        }
    }

    /// Records that the stream must end; the first reason wins. Frames already queued are still
    /// written when the source ended; a gone client or a shutdown ends the stream at once.
    pub fn end(&mut self, why: Closed) {
        self.closed.get_or_insert(why);
    }

    /// Why the stream ended, once it has.
    pub fn closed(&self) -> Option<Closed> {
        self.closed
    }

    /// The next step at time `now`.
    pub fn next(&mut self, now: UnixMillis) -> Next {
        if let Some(why @ (Closed::ClientGone | Closed::Shutdown)) = self.closed {
            return Next::Close(why);
        }
        if let Some(frame) = self.queue.pop_front() {
            return Next::Write(frame);
        }
        if let Some(why) = self.closed {
            return Next::Close(why);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.closed = Some(Closed::Deadline);
            return Next::Close(Closed::Deadline);
        }
        if let Some(every) = self.poll_ms {
            if let (Some(at), Some(cap)) = (self.polled_at.take(), self.idle_poll_cap_ms) {
                // The platform delivered the poll's frames (written above) before asking again.
                self.idle_poll_ms = if !self.delivered {
                    self.idle_poll_ms.saturating_mul(2).min(cap.max(every))
                } else {
                    every
                };
                self.next_poll = at.saturating_add(self.idle_poll_ms);
            }
            if now >= self.next_poll {
                self.next_poll = now.saturating_add(self.idle_poll_ms);
                self.polled_at = Some(now);
                self.delivered = false;
                return Next::Poll;
            }
        }
        if now >= self.next_keepalive {
            self.next_keepalive = now.saturating_add(self.keepalive_ms);
            return Next::Write(match self.heartbeat {
                None => keepalive_frame(),
                Some(name) => super::sse::SseEvent {
                    event: Some(name.into()),
                    data: format!("{{\"timestamp\":{now}}}"),
                    ..Default::default()
                }
                .encode(),
            });
        }
        let wake = self
            .next_keepalive
            .min(self.next_poll)
            .min(self.deadline.unwrap_or(UnixMillis::MAX));
        Next::Wait(wake)
    }
}

impl Drop for HeldStream {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.stream_delta(-1);
        }
    }
}

/// Milliseconds from `now` until `wake` (zero when it is past): what a platform sleeps for.
pub fn wait_ms(wake: UnixMillis, now: UnixMillis) -> u64 {
    wake.saturating_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    /// Runs the machine at `now` until it waits or closes, returning what it wrote or asked.
    fn drain(h: &mut HeldStream, now: UnixMillis) -> (Vec<Next>, Next) {
        let mut out = Vec::new();
        for _ in 0..100 {
            match h.next(now) {
                n @ (Next::Wait(_) | Next::Close(_)) => return (out, n),
                n => out.push(n),
            }
        }
        panic!("the machine did not settle within 100 steps");
    }

    #[test]
    fn initial_frames_first_then_wait_for_the_keepalive() {
        let mut h = HeldStream::open(vec![b("a"), b("b")], 1_000, 10_000);
        let (steps, next) = drain(&mut h, 10_000);
        assert_eq!(steps, vec![Next::Write(b("a")), Next::Write(b("b"))]);
        assert_eq!(next, Next::Wait(11_000));
    }

    #[test]
    fn keepalives_come_every_interval_and_no_earlier() {
        let mut h = HeldStream::open(Vec::new(), 1_000, 0);
        let table: &[(UnixMillis, Vec<Next>, Next)] = &[
            (999, vec![], Next::Wait(1_000)),
            (
                1_000,
                vec![Next::Write(keepalive_frame())],
                Next::Wait(2_000),
            ),
            (1_500, vec![], Next::Wait(2_000)),
            // A late wake-up sends one keep-alive and schedules the next from then.
            (
                2_700,
                vec![Next::Write(keepalive_frame())],
                Next::Wait(3_700),
            ),
        ];
        for (now, steps, next) in table {
            assert_eq!(
                drain(&mut h, *now),
                (steps.clone(), next.clone()),
                "at {now}"
            );
        }
    }

    #[test]
    fn tiny_keepalive_intervals_are_raised_to_the_minimum() {
        let mut h = HeldStream::open(Vec::new(), 0, 0);
        assert_eq!(h.next(0), Next::Wait(MIN_KEEPALIVE_MS));
    }

    #[test]
    fn deliveries_are_written_in_order_between_keepalives() {
        let mut h = HeldStream::open(vec![b("prime")], 1_000, 0);
        assert_eq!(drain(&mut h, 0).1, Next::Wait(1_000));
        h.deliver(b("m1"));
        h.deliver_all([b("m2"), b("m3")]);
        let (steps, next) = drain(&mut h, 400);
        assert_eq!(
            steps,
            vec![
                Next::Write(b("m1")),
                Next::Write(b("m2")),
                Next::Write(b("m3"))
            ]
        );
        assert_eq!(next, Next::Wait(1_000));
    }

    #[test]
    fn polling_streams_poll_on_schedule_and_wake_for_the_nearer_event() {
        let mut h = HeldStream::open(Vec::new(), 1_000, 0).polling(250, 0);
        assert_eq!(drain(&mut h, 0).1, Next::Wait(250));
        assert_eq!(h.next(250), Next::Poll);
        h.deliver(b("out"));
        assert_eq!(
            drain(&mut h, 250),
            (vec![Next::Write(b("out"))], Next::Wait(500))
        );
        assert_eq!(h.next(1_000), Next::Poll);
        assert_eq!(h.next(1_000), Next::Write(keepalive_frame()));
        assert_eq!(h.next(1_000), Next::Wait(1_250));
    }

    #[test]
    fn an_idle_polled_source_is_polled_less_often_up_to_the_cap_and_at_once_again_after_activity() {
        let mut h = HeldStream::open(Vec::new(), 60_000, 0)
            .polling(250, 0)
            .backing_off(1_000);
        let mut polls = Vec::new();
        let mut now = 0;
        for _ in 0..6 {
            let Next::Wait(wake) = drain(&mut h, now).1 else {
                panic!("a live stream waits");
            };
            now = wake;
            assert_eq!(h.next(now), Next::Poll);
            polls.push(now);
        }
        assert_eq!(
            polls,
            [250, 750, 1_750, 2_750, 3_750, 4_750],
            "doubling, capped"
        );
        h.deliver(b("request"));
        assert_eq!(
            drain(&mut h, now),
            (vec![Next::Write(b("request"))], Next::Wait(now + 250)),
            "activity returns to the base interval"
        );
        assert_eq!(h.next(now + 250), Next::Poll);
        assert_eq!(drain(&mut h, now + 250).1, Next::Wait(now + 750));
    }

    #[test]
    fn the_deadline_closes_after_due_frames() {
        let mut h = HeldStream::open(vec![b("a")], 1_000, 0).until(1_500);
        assert_eq!(
            drain(&mut h, 0),
            (vec![Next::Write(b("a"))], Next::Wait(1_000))
        );
        assert_eq!(drain(&mut h, 1_000).1, Next::Wait(1_500));
        h.deliver(b("late"));
        assert_eq!(
            drain(&mut h, 1_600),
            (vec![Next::Write(b("late"))], Next::Close(Closed::Deadline))
        );
        assert_eq!(h.closed(), Some(Closed::Deadline));
    }

    #[test]
    fn how_each_ending_treats_queued_frames() {
        let table = [
            (Closed::SourceEnded, vec![Next::Write(b("q"))]),
            (Closed::ClientGone, vec![]),
            (Closed::Shutdown, vec![]),
        ];
        for (why, steps) in table {
            let mut h = HeldStream::open(vec![b("q")], 1_000, 0);
            h.end(why);
            h.end(Closed::Deadline);
            h.deliver(b("dropped: already ending"));
            assert_eq!(drain(&mut h, 0), (steps, Next::Close(why)), "{why:?}");
            assert_eq!(h.next(5_000), Next::Close(why), "{why:?} stays closed");
        }
    }

    #[test]
    fn counted_streams_raise_the_gauge_while_they_live() {
        let metrics = Arc::new(Metrics::default());
        let a = HeldStream::open(Vec::new(), 1_000, 0).counted(metrics.clone());
        let b = HeldStream::open(Vec::new(), 1_000, 0).counted(metrics.clone());
        assert_eq!(metrics.active_streams(), 2);
        drop(a);
        assert_eq!(metrics.active_streams(), 1);
        drop(b);
        assert_eq!(metrics.active_streams(), 0);
    }

    #[test]
    fn heartbeat_events_replace_keepalive_comments() {
        let mut h = HeldStream::open(Vec::new(), 1_000, 0).heartbeat_events("heartbeat");
        assert_eq!(h.next(10), Next::Wait(1_000));
        assert_eq!(
            h.next(1_000),
            Next::Write(b("event: heartbeat\ndata: {\"timestamp\":1000}\n\n"))
        );
    }

    #[test]
    fn wait_ms_never_underflows() {
        assert_eq!(wait_ms(1_500, 1_000), 500);
        assert_eq!(wait_ms(1_000, 1_500), 0);
    }
}
