//! Ping-pong: every node keeps one ping in flight to every other node, and answers
//! every ping with a pong. No timers, no storage, no clients: the engine's own cost
//! per message, for `faultline bench`.

use faultline_sim::disk::Durable;
use faultline_sim::{Ctx, NodeId, Protocol, Request, TimerId};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    Ping(u64),
    Pong(u64),
}

faultline_sim::message_kinds!(Msg { Ping, Pong });

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PingPong {
    pub pongs: u64,
}

pub const VARIANTS: &[(&str, &str)] = &[("correct", "every node pings every other node, forever")];

impl Protocol for PingPong {
    type Msg = Msg;
    type Timer = ();
    type Stored = ();
    type Config = ();
    const OPS: &'static [faultline_sim::protocol::OpKind] = &[];

    fn start(ctx: &mut Ctx<'_, Self>, _: &(), _: &Durable<()>) -> Self {
        for peer in ctx.peers().collect::<Vec<_>>() {
            ctx.send(peer, Msg::Ping(0));
        }
        PingPong { pongs: 0 }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ping(k) => ctx.send(from, Msg::Pong(k)),
            Msg::Pong(k) => {
                self.pongs += 1;
                ctx.send(from, Msg::Ping(k + 1));
            }
        }
    }

    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: TimerId, _: ()) {}

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        ctx.reply(faultline_sim::Reply {
            client: req.client,
            seq: req.seq,
            outcome: faultline_sim::Outcome::Rejected("ping-pong serves no clients".into()),
        });
    }
}
