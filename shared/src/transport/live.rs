//! The live reply of a request whose tool call sends notifications (see [`crate::notify`]): the
//! platform runs the core's handling through [`Related::start`], which says whether the reply goes out
//! whole or as a stream of SSE frames ([`Started`], [`LiveBody`]).

use std::collections::VecDeque;

use bytes::Bytes;
use futures_channel::mpsc::UnboundedReceiver;
use futures_util::future::{select, Either};
use futures_util::StreamExt as _;

use super::sse::SseEvent;
use super::{Reply, ReplyBody};
use crate::notify::Outlet;
use crate::port::BoxFuture;

/// The receiving end of a request's related messages, and the head a streamed reply starts with.
#[derive(Debug)]
pub struct Related {
    rx: UnboundedReceiver<Bytes>,
    head: Reply,
}

/// How a reply goes out.
pub enum Started<'f> {
    /// Whole, as decided (nothing was sent before the answer, or everything was in by then).
    Whole(Reply),
    /// A stream: send `head` (status, headers and the frames so far) now, then the body's frames.
    Streaming(Reply, LiveBody<'f>),
}

impl Related {
    /// A fresh outlet and its receiving end; a streamed reply starts with `head` (an SSE reply with
    /// no frames and the request's CORS headers).
    pub fn new(head: Reply) -> (Outlet, Self) {
        let (outlet, rx) = crate::notify::channel();
        (outlet, Related { rx, head })
    }

    /// The receiving end itself (for tests that read what a notifier sent).
    #[cfg(test)]
    pub(crate) fn receiver(&mut self) -> &mut UnboundedReceiver<Bytes> {
        &mut self.rx
    }

    /// Runs `handled` (the core handling the request that carries the outlet) until its answer or
    /// its first notification, whichever comes first.
    pub async fn start<'f>(mut self, mut handled: BoxFuture<'f, Reply>) -> Started<'f> {
        match select(handled.as_mut(), self.rx.next()).await {
            Either::Left((reply, _)) => {
                let mut early = Vec::new();
                while let Ok(frame) = self.rx.try_recv() {
                    early.push(frame);
                }
                if early.is_empty() {
                    return Started::Whole(reply);
                }
                let mut head = self.head;
                early.extend(answer_frames(reply));
                *head.response.body_mut() = ReplyBody::Sse {
                    frames: early,
                    hold: None,
                };
                Started::Whole(head)
            }
            // The outlet went away unused (the request was consumed early): the answer is whole.
            Either::Right((None, _)) => Started::Whole(handled.await),
            Either::Right((Some(first), _)) => {
                let mut head = self.head;
                *head.response.body_mut() = ReplyBody::Sse {
                    frames: vec![first],
                    hold: None,
                };
                let body = LiveBody {
                    handled: Some(handled),
                    rx: self.rx,
                    queue: VecDeque::new(),
                };
                Started::Streaming(head, body)
            }
        }
    }
}

/// The rest of a streamed reply: notifications as the call sends them, then its answer.
pub struct LiveBody<'f> {
    handled: Option<BoxFuture<'f, Reply>>,
    rx: UnboundedReceiver<Bytes>,
    queue: VecDeque<Bytes>,
}

impl<'f> LiveBody<'f> {
    /// The next frame; `None` once the answer was sent.
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.queue.pop_front() {
                return Some(frame);
            }
            let handled = self.handled.as_mut()?;
            let reply = match select(handled.as_mut(), self.rx.next()).await {
                Either::Right((Some(frame), _)) => return Some(frame),
                // Every outlet is gone but the answer is not in yet: wait for it.
                Either::Right((None, _)) => handled.await,
                Either::Left((reply, _)) => reply,
            };
            self.handled = None;
            while let Ok(frame) = self.rx.try_recv() {
                self.queue.push_back(frame);
            }
            // A single `POST /mcp` request's answer: it carries no deliveries to other streams nor
            // task work (a task-augmented call answers at once and sends nothing first).
            self.queue.extend(answer_frames(reply));
        }
    }

    /// The frames as a stream, for platform bodies (dropping it drops the call: the client left).
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Bytes> + 'f {
        futures_util::stream::unfold(self, |mut body| async move {
            let frame = body.next().await?;
            Some((frame, body))
        })
    }
}

/// A reply's body as SSE frames after related messages: a JSON answer becomes one `message` event;
/// SSE frames stay as they are.
fn answer_frames(reply: Reply) -> Vec<Bytes> {
    match reply.response.into_body() {
        ReplyBody::Empty => Vec::new(),
        ReplyBody::Full(b) => vec![SseEvent::message(None, String::from_utf8_lossy(&b)).encode()],
        ReplyBody::Sse { frames, .. } => frames,
    }
}
